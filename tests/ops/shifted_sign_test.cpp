// shifted_sign (csrc/ops/shifted_sign.h, ReActNet's RSign) against the composition it replaces,
// sign(x + b) with the estimator of csrc/ops/sign.h: signs and input gradients exactly, the
// shift's gradient to 1e-6 relative (summed in float64), dtypes kept.
#include <lowbit/csrc/kernels/shifted_sign.h>
#include <lowbit/csrc/ops/shifted_sign.h>
#include <lowbit/csrc/ops/sign.h>

#include "support/require_gpu.h"

#include <gtest/gtest.h>

#include <algorithm>

#include <torch/torch.h>

namespace {

using lowbit::ops::Ste;

struct ShiftedRun {
  torch::Tensor y, gx, gb;
};

template <typename Fn>
ShiftedRun run_shifted(Fn&& fn, const torch::Tensor& x0, const torch::Tensor& b0, const torch::Tensor& upstream) {
  auto x = x0.clone().requires_grad_(true), b = b0.clone().requires_grad_(true);
  const auto y = fn(x, b);
  (y * upstream).sum().backward();
  return {y.detach(), x.grad(), b.grad()};
}

torch::Tensor composition(const torch::Tensor& x, const torch::Tensor& b, Ste ste) {
  auto shape = std::vector<int64_t>(x.dim(), 1);
  shape[1] = x.size(1);
  return lowbit::ops::sign(x + b.view(shape), ste);
}

// The shift's gradient against the composition in float64 (a float32 autograd sum carries its
// own rounding error): within 1e-6 of the largest channel sum.
void expect_matches_composition(const torch::Tensor& x, const torch::Tensor& b, Ste ste) {
  const auto upstream = torch::randn_like(x);
  const auto fused = run_shifted([&](auto x, auto b) { return lowbit::ops::shifted_sign(x, b, ste); }, x, b, upstream);
  const auto composed = run_shifted([&](auto x, auto b) { return composition(x, b, ste); }, x, b, upstream);
  const auto exact = run_shifted([&](auto x, auto b) { return composition(x, b, ste); }, x.to(torch::kDouble),
                                 b.to(torch::kDouble), upstream.to(torch::kDouble));
  EXPECT_TRUE(torch::equal(fused.y, composed.y));
  EXPECT_TRUE(torch::equal(fused.gx, composed.gx));
  const double error = (fused.gb.to(torch::kDouble) - exact.gb).abs().max().item<double>();
  EXPECT_LE(error, 1e-6 * std::max(1.0, exact.gb.abs().max().item<double>()));
  EXPECT_EQ(fused.y.scalar_type(), x.scalar_type());
  EXPECT_EQ(fused.gx.scalar_type(), x.scalar_type());
  EXPECT_EQ(fused.gb.scalar_type(), b.scalar_type());
  EXPECT_EQ(fused.gb.sizes(), b.sizes());
}

TEST(ShiftedSign, EqualsSignOfTheSumWithEveryEstimatorAndDtype) {
  torch::manual_seed(0);
  for (const auto dtype : {torch::kFloat, torch::kDouble}) {
    for (const auto ste : {Ste::Identity, Ste::Clipped, Ste::ApproxSign}) {
      SCOPED_TRACE(std::string(c10::toString(dtype)) + " " + lowbit::ops::to_string(ste));
      expect_matches_composition(torch::randn({4, 24, 9, 11}, dtype), torch::randn({1, 24, 1, 1}, dtype) * 0.3, ste);
    }
  }
}

TEST(ShiftedSign, ShiftShapesAndRanks) {
  torch::manual_seed(1);
  expect_matches_composition(torch::randn({6, 5}), torch::randn({5}) * 0.5, Ste::ApproxSign);        // inner = 1
  expect_matches_composition(torch::randn({2, 3, 4, 5, 6}), torch::randn({3}), Ste::Clipped);         // 3-D maps
  expect_matches_composition(torch::randn({3, 7, 40000}), torch::randn({1, 7, 1}), Ste::ApproxSign);  // runs span blocks
  // An exact zero of x + b gives sign 0, as at::sign.
  const auto x = torch::full({1, 2, 3}, 0.5), b = torch::tensor({-0.5, 0.25}).view({1, 2, 1});
  EXPECT_TRUE(torch::equal(lowbit::ops::shifted_sign(x, b, Ste::ApproxSign)[0][0], torch::zeros({3})));
}

TEST(ShiftedSign, AShiftOfTheWrongSizeIsNamed) {
  try {
    lowbit::ops::shifted_sign(torch::randn({2, 4, 3, 3}), torch::zeros({5}), Ste::ApproxSign);
    FAIL() << "expected an error";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("per-channel state has 5 entries but the input has 4 along dim 1"),
              std::string::npos) << e.what();
  }
}

TEST(ShiftedSign, CudaMatchesCpu) {
  REQUIRE_GPU();
  const auto x = torch::randn({4, 16, 7, 9}), b = torch::randn({16}) * 0.3, g = torch::randn({4, 16, 7, 9});
  for (const auto dtype : {torch::kFloat, torch::kDouble, torch::kHalf, torch::kBFloat16}) {
    const auto cpu_y = lowbit::kernels::shifted_sign_forward(x.to(dtype), b);
    const auto gpu_y = lowbit::kernels::shifted_sign_forward(x.to(dtype).cuda(), b.cuda());
    EXPECT_TRUE(torch::equal(gpu_y.cpu(), cpu_y));
    const auto [cpu_gx, cpu_gb] = lowbit::kernels::shifted_sign_backward(g.to(dtype), x.to(dtype), b, Ste::ApproxSign);
    const auto [gpu_gx, gpu_gb] =
        lowbit::kernels::shifted_sign_backward(g.to(dtype).cuda(), x.to(dtype).cuda(), b.cuda(), Ste::ApproxSign);
    EXPECT_TRUE(torch::allclose(gpu_gx.cpu().to(torch::kFloat), cpu_gx.to(torch::kFloat), 1e-3, 1e-3));
    EXPECT_TRUE(torch::allclose(gpu_gb.cpu(), cpu_gb, 1e-3, 1e-3));
  }
}

}  // namespace
