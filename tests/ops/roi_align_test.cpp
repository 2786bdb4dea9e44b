// RoIAlign (csrc/ops/roi_align.h) against torchvision.ops.roi_align's numbers
// (tests/ops/roi_align_reference.h, made by make_roi_align_reference.py): outputs and dL/dfeatures,
// aligned or not, fixed and adaptive sampling, RoIs partly or wholly outside the map and smaller
// than a pixel; float64 to 1e-12 and float32 to 1e-5 of the largest value.
#include <lowbit/csrc/ops/roi_align.h>

#include "ops/roi_align_reference.h"
#include "support/require_gpu.h"

#include <gtest/gtest.h>

#include <torch/torch.h>

#include <algorithm>
#include <string>
#include <vector>

namespace roi_align_test {  // named: the unity build joins test files

namespace ref = lowbit::testing::roi_align_reference;
using lowbit::ops::RoIAlignOptions;

// The formulas of make_roi_align_reference.py, on float64 tensors as there.
torch::Tensor features() {
  const auto o = torch::TensorOptions(torch::kDouble);
  const auto n = torch::arange(ref::kN, o).view({ref::kN, 1, 1, 1}), c = torch::arange(ref::kC, o).view({1, ref::kC, 1, 1});
  const auto h = torch::arange(ref::kH, o).view({1, 1, ref::kH, 1}), w = torch::arange(ref::kW, o).view({1, 1, 1, ref::kW});
  return torch::sin(0.3 + 0.37 * n + 1.3 * c + 0.71 * h + 0.23 * w + 0.05 * h * w);
}

torch::Tensor upstream(int64_t k, int64_t ph, int64_t pw) {
  const auto o = torch::TensorOptions(torch::kDouble);
  const auto kk = torch::arange(k, o).view({k, 1, 1, 1}), c = torch::arange(ref::kC, o).view({1, ref::kC, 1, 1});
  const auto y = torch::arange(ph, o).view({1, 1, ph, 1}), x = torch::arange(pw, o).view({1, 1, 1, pw});
  return torch::cos(0.1 + 0.9 * kk + 0.4 * c + 0.3 * y + 0.17 * x);
}

torch::Tensor rois() {
  std::vector<double> flat;
  for (const auto& r : ref::kRois) flat.insert(flat.end(), r.begin(), r.end());
  return torch::tensor(flat, torch::kDouble).view({-1, 5});
}

RoIAlignOptions options_of(const ref::Case& c) {
  return RoIAlignOptions(c.pooled_h, c.pooled_w).spatial_scale(ref::kScale).sampling_ratio(c.sampling_ratio).aligned(c.aligned);
}

struct Result {
  torch::Tensor output, grad;
};

Result run(const ref::Case& c, torch::ScalarType dtype, torch::Device device = torch::kCPU) {
  const auto x = features().to(device, dtype).requires_grad_(true);
  const auto y = lowbit::ops::roi_align(x, rois().to(device, dtype), options_of(c));
  (y * upstream(static_cast<int64_t>(ref::kRois.size()), c.pooled_h, c.pooled_w).to(device, dtype)).sum().backward();
  return {y.detach().cpu(), x.grad().cpu()};
}

double max_error(const torch::Tensor& a, const std::vector<double>& expected) {
  const auto e = torch::tensor(expected, torch::kDouble);
  EXPECT_EQ(a.numel(), e.numel());
  if (a.numel() != e.numel()) return 1e9;
  return (a.to(torch::kDouble).flatten() - e).abs().max().item<double>() / std::max(1.0, e.abs().max().item<double>());
}

std::string describe(const ref::Case& c) {
  return std::to_string(c.pooled_h) + "x" + std::to_string(c.pooled_w) + " sampling " +
         std::to_string(c.sampling_ratio) + (c.aligned ? " aligned" : " unaligned");
}

TEST(RoIAlign, MatchesTorchvisionInFloat64AndFloat32) {
  for (const auto& c : ref::kCases) {
    SCOPED_TRACE(describe(c));
    const auto d = run(c, torch::kDouble);
    EXPECT_EQ(d.output.sizes(), torch::IntArrayRef({static_cast<int64_t>(ref::kRois.size()), ref::kC, c.pooled_h, c.pooled_w}));
    EXPECT_EQ(d.output.scalar_type(), torch::kDouble);
    EXPECT_LE(max_error(d.output, c.output), 1e-12);
    EXPECT_LE(max_error(d.grad, c.grad_features), 1e-12);
    const auto f = run(c, torch::kFloat);
    EXPECT_EQ(f.output.scalar_type(), torch::kFloat);
    EXPECT_EQ(f.grad.scalar_type(), torch::kFloat);
    EXPECT_LE(max_error(f.output, c.output), 1e-5);
    EXPECT_LE(max_error(f.grad, c.grad_features), 1e-5);
  }
}

TEST(RoIAlign, HalfPrecisionFollowsFloat) {
  const auto& c = ref::kCases.front();
  for (const auto dtype : {torch::kHalf, torch::kBFloat16}) {
    const auto h = run(c, dtype);
    EXPECT_EQ(h.output.scalar_type(), dtype);
    EXPECT_LE(max_error(h.output, c.output), 2e-2);
    EXPECT_LE(max_error(h.grad, c.grad_features), 5e-2);
  }
}

TEST(RoIAlign, TheBackwardDoesNotDependOnTheThreadCount) {
  const auto& c = ref::kCases[1];
  const int threads = torch::get_num_threads();
  torch::set_num_threads(1);
  const auto one = run(c, torch::kFloat);
  torch::set_num_threads(2);
  const auto two = run(c, torch::kFloat);
  torch::set_num_threads(threads);
  EXPECT_TRUE(torch::equal(one.grad, two.grad));
  EXPECT_TRUE(torch::equal(one.output, two.output));
}

TEST(RoIAlign, NoRoIsGiveAnEmptyOutputAndAZeroGradient) {
  const auto x = features().to(torch::kFloat).requires_grad_(true);
  const auto y = lowbit::ops::roi_align(x, torch::zeros({0, 5}), RoIAlignOptions(7, 7));
  EXPECT_EQ(y.sizes(), torch::IntArrayRef({0, ref::kC, 7, 7}));
  y.sum().backward();
  EXPECT_TRUE(torch::equal(x.grad(), torch::zeros_like(x)));
}

TEST(RoIAlign, BadInputIsNamed) {
  const auto x = features().to(torch::kFloat);
  const auto expect_error = [&](const torch::Tensor& features, const torch::Tensor& boxes, const std::string& needle) {
    try {
      lowbit::ops::roi_align(features, boxes, RoIAlignOptions(2, 2));
      ADD_FAILURE() << "accepted; expected an error with \"" << needle << "\"";
    } catch (const c10::Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_error(x, torch::zeros({3, 4}), "expected RoIs [K, 5]");
  expect_error(x, torch::tensor({2.0, 0.0, 0.0, 4.0, 4.0}).view({1, 5}), "batch indices must be integers in [0, 2)");
  expect_error(x, torch::tensor({0.5, 0.0, 0.0, 4.0, 4.0}).view({1, 5}), "batch indices must be integers");
  expect_error(x[0], torch::zeros({1, 5}), "expected features [N, C, H, W]");
}

TEST(RoIAlign, CudaMatchesCpu) {
  REQUIRE_GPU();
  for (const auto& c : ref::kCases) {
    SCOPED_TRACE(describe(c));
    for (const auto dtype : {torch::kFloat, torch::kDouble}) {
      const auto cpu = run(c, dtype), gpu = run(c, dtype, torch::kCUDA);
      EXPECT_TRUE(torch::allclose(gpu.output, cpu.output, 1e-6, 1e-6));
      EXPECT_TRUE(torch::allclose(gpu.grad, cpu.grad, 1e-5, 1e-6));  // atomics add in another order
    }
  }
}

}  // namespace roi_align_test

// float16 features are pooled in float, as torchvision's autocast runs roi_align: the RoIs keep
// their fractions past 1024 px (float16 steps by 1 there).
TEST(RoIAlign, HalfFeaturesPoolInFloat) {
  torch::manual_seed(0);
  const auto features = torch::randn({1, 2, 80, 80}).to(torch::kHalf);
  const auto rois = torch::tensor({{0.0, 1030.3, 1030.3, 1200.7, 1150.6}});
  const auto options = lowbit::ops::RoIAlignOptions(4, 4).spatial_scale(1.0 / 16);
  const auto pooled = lowbit::ops::roi_align(features, rois, options);
  EXPECT_EQ(pooled.scalar_type(), torch::kHalf);
  EXPECT_TRUE(torch::equal(pooled, lowbit::ops::roi_align(features.to(torch::kFloat), rois, options).to(torch::kHalf)));
}
