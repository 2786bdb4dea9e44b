#include <lowbit/csrc/ops/scaled_sign.h>

#include <gtest/gtest.h>

#include <torch/torch.h>

using lowbit::ops::ScaleGrad;

namespace {

// Two output channels of n = 4 weights each: alpha = [0.5, 2].
torch::Tensor xnor_weights() {
  return torch::tensor({{0.2, -0.4, 0.6, -0.8}, {1.5, -2.5, 3.0, -1.0}}, torch::kDouble).view({2, 4, 1, 1});
}

torch::Tensor grad_for(ScaleGrad mode, const torch::Tensor& upstream) {
  auto w = xnor_weights().requires_grad_(true);
  (lowbit::ops::scaled_sign(w, mode) * upstream).sum().backward();
  return w.grad();
}

const auto kXnorUpstream = torch::tensor({{1.0, 2.0, -1.0, 0.5}, {1.0, -1.0, 2.0, 4.0}}, torch::kDouble).view({2, 4, 1, 1});
// 1[|W| <= 1]
const auto kMask = torch::tensor({{1.0, 1.0, 1.0, 1.0}, {0.0, 0.0, 0.0, 1.0}}, torch::kDouble).view({2, 4, 1, 1});
const auto kAlpha = torch::tensor({0.5, 2.0}, torch::kDouble).view({2, 1, 1, 1});

}  // namespace

TEST(ScaledSign, AlphaIsPerChannelMeanAbs) {
  const auto y = lowbit::ops::scaled_sign(xnor_weights(), ScaleGrad::Xnor);
  EXPECT_TRUE(torch::allclose(y, kAlpha * xnor_weights().sign()));
}

TEST(ScaledSign, DetachedGradientIsClampSte) {
  EXPECT_TRUE(torch::allclose(grad_for(ScaleGrad::Detached, kXnorUpstream), kXnorUpstream * kMask));
}

TEST(ScaledSign, MagnitudeAwareGradientCarriesAlpha) {
  EXPECT_TRUE(torch::allclose(grad_for(ScaleGrad::MagnitudeAware, kXnorUpstream), kXnorUpstream * kMask * kAlpha));
}

TEST(ScaledSign, XnorGradientAddsOneOverN) {
  // G * (1/n + alpha * 1[|W| <= 1]), n = 4.
  EXPECT_TRUE(torch::allclose(grad_for(ScaleGrad::Xnor, kXnorUpstream), kXnorUpstream * (0.25 + kAlpha * kMask)));
}

TEST(ScaledSign, XnorGradientOnOneFilter) {
  // One 1x2x1x1 filter W = [0.5, -3]: alpha = 1.75, n = 2; G = [1, 1] -> [0.5 + 1.75, 0.5 + 0].
  auto w = torch::tensor({0.5, -3.0}, torch::kDouble).view({1, 2, 1, 1}).requires_grad_(true);
  lowbit::ops::scaled_sign(w, ScaleGrad::Xnor).sum().backward();
  EXPECT_TRUE(torch::allclose(w.grad().flatten(), torch::tensor({2.25, 0.5}, torch::kDouble)));
}

TEST(ScaledSign, RejectsVectorsAndUnknownModes) {
  EXPECT_THROW(lowbit::ops::scaled_sign(torch::ones({3}), ScaleGrad::Xnor), c10::Error);
  EXPECT_THROW(lowbit::ops::parse_scale_grad("xnr_paper"), c10::ValueError);
  EXPECT_EQ(lowbit::ops::parse_scale_grad("magnitude_aware"), ScaleGrad::MagnitudeAware);
}
