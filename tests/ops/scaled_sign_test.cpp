#include <lowbit/csrc/ops/scaled_sign.h>
#include <lowbit/csrc/util/cpu_memory.h>

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
  // One 1x3x1x1 filter W = [0.5, -3, 1]: alpha = 1.5, n = 3; G = 1 -> 1/3 + 1.5 1[|W| <= 1]. The
  // paper's mask includes |W| = 1 (the Lua code's |W| < 1 would give 1/3 there), and no factor
  // n (1 - 1/C_in) = 2 of the Lua code.
  auto w = torch::tensor({0.5, -3.0, 1.0}, torch::kDouble).view({1, 3, 1, 1}).requires_grad_(true);
  lowbit::ops::scaled_sign(w, ScaleGrad::Xnor).sum().backward();
  const auto expected = torch::tensor({1.0 / 3 + 1.5, 1.0 / 3, 1.0 / 3 + 1.5}, torch::kDouble);
  EXPECT_TRUE(torch::allclose(w.grad().flatten(), expected));
}

TEST(ScaledSign, RejectsVectorsAndUnknownModes) {
  EXPECT_THROW(lowbit::ops::scaled_sign(torch::ones({3}), ScaleGrad::Xnor), c10::Error);
  EXPECT_THROW(lowbit::ops::parse_scale_grad("xnr_paper"), c10::ValueError);
  EXPECT_EQ(lowbit::ops::parse_scale_grad("magnitude_aware"), ScaleGrad::MagnitudeAware);
}

// A gradient nothing else holds is written over (no second weight-sized tensor in the backward); a
// held one is left as it was. Both give the same dL/dw.
TEST(ScaledSign, WritesOverAGradientNothingElseHolds) {
  torch::manual_seed(4);
  for (const auto mode : {lowbit::ops::ScaleGrad::Detached, lowbit::ops::ScaleGrad::Xnor}) {
    const auto w = (torch::randn({64, 64, 3, 3}) * 0.5).requires_grad_(true);
    const auto upstream = torch::randn_like(w), kept = upstream.clone();
    const auto held = torch::autograd::grad({lowbit::ops::scaled_sign(w, mode)}, {w}, {upstream})[0];
    EXPECT_TRUE(torch::equal(upstream, kept));
    const auto y = lowbit::ops::scaled_sign(w, mode) * 1.0;  // its backward makes a fresh gradient
    lowbit::util::CpuMemoryCounter counter;
    const int64_t before = counter.live_bytes();
    y.backward(upstream);
    EXPECT_TRUE(torch::equal(w.grad(), held));
    EXPECT_TRUE(torch::equal(upstream, kept));
    // y's gradient (fresh, then written over and kept as w.grad); the out-of-place path would add a second.
    EXPECT_LT(counter.peak_bytes() - before, 3 * w.nbytes() / 2);
  }
}
