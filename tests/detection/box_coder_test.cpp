// Faster R-CNN's box coder and anchors (modules/detection/box_coder.h, anchor_generator.h):
// encode, decode and decode's gradient against torchvision's BoxCoder numbers
// (tests/detection/box_coder_reference.h, made by make_box_coder_reference.py) for the RPN's and
// the R-CNN head's standard deviations; the clamps; mmdetection's anchors from their formulas.
#include <lowbit/modules/detection/anchor_generator.h>
#include <lowbit/modules/detection/box_coder.h>

#include "detection/box_coder_reference.h"

#include <gtest/gtest.h>

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <string>

namespace box_coder_test {  // named: the unity build joins test files

namespace ref = lowbit::testing::box_coder_reference;
using lowbit::detection::AnchorGenerator;
using lowbit::detection::AnchorGeneratorOptions;
using lowbit::detection::DeltaBoxCoder;
using lowbit::detection::DeltaBoxCoderOptions;

constexpr int64_t kK = 8, kClasses = 2;

// The formulas of make_box_coder_reference.py.
torch::Tensor boxes(double phase) {
  const auto k = torch::arange(kK, torch::kDouble);
  const auto x1 = 50 + 40 * torch::sin(phase + 0.7 * k), y1 = 60 + 45 * torch::cos(phase + 1.1 * k);
  const auto w = 63 + 60 * torch::sin(phase + 2.3 * k), h = 63 + 60 * torch::cos(phase + 0.9 * k);
  return torch::stack({x1, y1, x1 + w, y1 + h}, -1);
}

torch::Tensor deltas() {
  const auto i = torch::arange(kK * 4 * kClasses, torch::kDouble).view({kK, 4 * kClasses});
  auto d = 0.8 * torch::sin(0.37 * i + 0.2);
  d[kK - 1].slice(0, 2, 4 * kClasses, 4).fill_(4.5);
  return d;
}

torch::Tensor upstream() {
  const auto i = torch::arange(kK * 4 * kClasses, torch::kDouble).view({kK, 4 * kClasses});
  return torch::cos(0.29 * i + 0.4);
}

DeltaBoxCoder coder_for(const std::string& name) {
  return DeltaBoxCoder(name == "rpn" ? DeltaBoxCoderOptions()
                                     : DeltaBoxCoderOptions().stds({0.1, 0.1, 0.2, 0.2}));
}

double max_error(const torch::Tensor& a, const std::vector<double>& expected) {
  const auto e = torch::tensor(expected, torch::kDouble);
  if (a.numel() != e.numel()) return 1e9;
  return (a.to(torch::kDouble).flatten() - e).abs().max().item<double>() / std::max(1.0, e.abs().max().item<double>());
}

TEST(DeltaBoxCoder, MatchesTorchvisionValuesAndGradients) {
  for (const auto& c : ref::kCases) {
    SCOPED_TRACE(c.name);
    const auto coder = coder_for(c.name);
    for (const auto dtype : {torch::kDouble, torch::kFloat}) {
      const double tolerance = dtype == torch::kDouble ? 1e-12 : 1e-5;
      const auto proposals = boxes(0.3).to(dtype), gt = boxes(1.9).to(dtype);
      EXPECT_LE(max_error(coder.encode(proposals, gt), c.encoded), tolerance);
      const auto d = deltas().to(dtype).requires_grad_(true);
      const auto decoded = coder.decode(proposals, d);
      EXPECT_EQ(decoded.sizes(), d.sizes());
      EXPECT_LE(max_error(decoded, c.decoded), tolerance);
      (decoded * upstream().to(dtype)).sum().backward();
      EXPECT_LE(max_error(d.grad(), c.grad_deltas), tolerance);
    }
  }
}

TEST(DeltaBoxCoder, DecodeInvertsEncodeAndClampsToTheImage) {
  const auto coder = coder_for("rcnn");
  const auto proposals = boxes(0.3), gt = boxes(1.9);
  EXPECT_TRUE(torch::allclose(coder.decode(proposals, coder.encode(proposals, gt)), gt, 1e-10, 1e-10));
  const auto clamped = coder.decode(proposals, coder.encode(proposals, gt), std::make_pair(100.0, 120.0));
  EXPECT_TRUE(torch::allclose(clamped.select(1, 0), gt.select(1, 0).clamp(0, 120)));
  EXPECT_TRUE(torch::allclose(clamped.select(1, 3), gt.select(1, 3).clamp(0, 100)));
  // Sizes shrink by at most 16/1000, from below as from above (torchvision clamps above only).
  const auto roi = torch::tensor({0.0, 0.0, 100.0, 50.0}, torch::kDouble).view({1, 4});
  const auto tiny = coder_for("rpn").decode(roi, torch::tensor({0.0, 0.0, -10.0, 10.0}, torch::kDouble).view({1, 4}));
  EXPECT_NEAR((tiny[0][2] - tiny[0][0]).item<double>(), 100 * 16.0 / 1000, 1e-9);
  EXPECT_NEAR((tiny[0][3] - tiny[0][1]).item<double>(), 50 * 1000.0 / 16, 1e-6);
}

TEST(DeltaBoxCoder, BadShapesAreNamed) {
  const DeltaBoxCoder coder;
  EXPECT_THROW(coder.encode(torch::zeros({3, 4}), torch::zeros({2, 4})), c10::Error);
  try {
    coder.decode(torch::zeros({3, 4}), torch::zeros({3, 6}));
    FAIL() << "deltas of 6 columns were accepted";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("expected deltas [3, 4 n]"), std::string::npos) << e.what();
  }
  EXPECT_THROW(DeltaBoxCoder(DeltaBoxCoderOptions().stds({0.1, 0, 0.2, 0.2})), c10::ValueError);
}

// mmdetection v2.0's base anchors, written out: stride 4, scale 8 (size 32), ratios 0.5, 1, 2.
TEST(AnchorGenerator, BaseAnchorsAreMmdetections) {
  const AnchorGenerator generator;
  EXPECT_EQ(generator.levels(), 5);
  EXPECT_EQ(generator.anchors_per_location(), 3);
  const auto base = generator.base_anchors(0).to(torch::kDouble);
  const double r = std::sqrt(0.5);
  const auto expected = torch::tensor({-16 / r, -16 * r, 16 / r, 16 * r,  //
                                       -16.0, -16.0, 16.0, 16.0,          //
                                       -16 * r, -16 / r, 16 * r, 16 / r},
                                      torch::kDouble)
                            .view({3, 4});
  EXPECT_TRUE(torch::allclose(base, expected, 1e-6, 1e-5)) << base;
  EXPECT_TRUE(torch::allclose(generator.base_anchors(4), base.to(torch::kFloat) * 16));
}

TEST(AnchorGenerator, GridAnchorsShiftTheBaseRowByRowAndValidFlagsCoverTheImage) {
  const AnchorGenerator generator;
  const auto anchors = generator.grid_anchors(1, {3, 5}, torch::kFloat);  // stride 8
  ASSERT_EQ(anchors.sizes(), torch::IntArrayRef({3 * 5 * 3, 4}));
  const auto base = generator.base_anchors(1);
  // Location (row 2, column 1) is the 11th; its anchors are the base moved by (8, 16).
  const auto shift = torch::tensor({8.0f, 16.0f, 8.0f, 16.0f});
  EXPECT_TRUE(torch::equal(anchors.slice(0, 11 * 3, 12 * 3), base + shift));
  // An image of 20 x 30 pixels covers ceil(20 / 8) = 3 rows and ceil(30 / 8) = 4 columns.
  const auto valid = generator.valid_flags(1, {3, 5}, {20, 30}, torch::kCPU);
  ASSERT_EQ(valid.sizes(), torch::IntArrayRef({45}));
  const auto per_location = valid.view({3, 5, 3});
  EXPECT_TRUE(per_location.slice(1, 0, 4).all().item<bool>());
  EXPECT_FALSE(per_location.slice(1, 4, 5).any().item<bool>());
}

}  // namespace box_coder_test
