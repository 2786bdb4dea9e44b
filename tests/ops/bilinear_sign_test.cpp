// The bilinear binarization shared by ReBNN, RBONN and IDa-Det (csrc/ops/bilinear_sign.h):
// forward values and each line of its backward on tensors small enough to read.
#include <lowbit/csrc/ops/bilinear_sign.h>

#include "support/error_of.h"

#include <gtest/gtest.h>

#include <torch/torch.h>

using lowbit::ops::bilinear_sign;
using lowbit::ops::BilinearSignOptions;
using lowbit::testing::error_of;

namespace {

constexpr double kKappa = 0.02;

// Two output channels of four weights; a zero and a large |W| = 5 among them.
torch::Tensor weights() {
  return torch::tensor({{0.3, -0.1, 0.0, 5.0}, {-0.7, 0.2, -2.0, 0.05}}, torch::kDouble).view({2, 4, 1, 1});
}
torch::Tensor scales() { return torch::tensor({-1.5, 0.5}, torch::kDouble).view({2, 1, 1, 1}); }
const auto kUpstream = torch::tensor({{1.0, -2.0, 0.5, 3.0}, {0.25, 1.0, -1.0, 2.0}}, torch::kDouble).view({2, 4, 1, 1});

struct Grads {
  torch::Tensor w, scale;
};

Grads grads(const torch::Tensor& gamma, const torch::Tensor& upstream, bool scale_sign_grad = true) {
  auto w = weights().requires_grad_(true);
  auto s = scales().requires_grad_(true);
  (bilinear_sign(w, s, gamma, BilinearSignOptions().scale_sign_grad(scale_sign_grad)) * upstream).sum().backward();
  return {w.grad(), s.grad()};
}

// Per-channel sums over every dim but 0, kept as [C, 1, 1, 1].
torch::Tensor channel_sum(const torch::Tensor& t) { return t.sum({1, 2, 3}, /*keepdim=*/true); }

}  // namespace

TEST(BilinearSign, ForwardIsKappaAlphaSignPerChannel) {
  const auto y = bilinear_sign(weights(), scales(), 1e-4);
  const auto alpha = scales().abs();
  // {-kappa alpha_c, 0, +kappa alpha_c}; 0 exactly where W = 0.
  EXPECT_TRUE(torch::equal(y, weights().sign() * kKappa * alpha));
  EXPECT_EQ(y[0][2].item<double>(), 0.0);
  EXPECT_EQ(y[0][3].item<double>(), kKappa * 1.5);
  EXPECT_EQ(y[1][0].item<double>(), -kKappa * 0.5);
}

TEST(BilinearSign, ZeroUpstreamGradientGivesTheReconstructionGradient) {
  const auto gamma = torch::tensor({0.3, 0.7}, torch::kDouble);
  const auto g = grads(gamma, torch::zeros_like(kUpstream));
  const auto gamma_c = gamma.view({2, 1, 1, 1});
  const auto b = kKappa * weights().sign();
  const auto r = weights() - scales().abs() * b;
  EXPECT_TRUE(torch::allclose(g.w, gamma_c * r));
  EXPECT_TRUE(torch::allclose(g.scale, scales().sign() * -gamma_c * channel_sum(r * b)));

  // = autograd of (gamma/2) ||W - alpha b||^2 with b = kappa sign(W) held constant.
  auto w = weights().requires_grad_(true);
  auto alpha = scales().abs().requires_grad_(true);
  (gamma_c / 2 * (w - alpha * b).pow(2)).sum().backward();
  EXPECT_TRUE(torch::allclose(g.w, w.grad()));
  EXPECT_TRUE(torch::allclose(g.scale, scales().sign() * alpha.grad()));
}

TEST(BilinearSign, ZeroGammaGivesAlphaTimesUpstreamWithoutClip) {
  const auto g = grads(torch::zeros({}, torch::kDouble), kUpstream);
  EXPECT_TRUE(torch::allclose(g.w, scales().abs() * kUpstream));
  EXPECT_EQ(g.w[0][3].item<double>(), 1.5 * 3.0);  // W = 5: no |W| <= 1 clip
  // dL/dalpha = sum g W (the latent W, not kappa sign W), times sign(s) (s_0 < 0).
  EXPECT_TRUE(torch::allclose(g.scale, scales().sign() * channel_sum(kUpstream * weights())));
}

TEST(BilinearSign, FullBackwardAddsBothTerms) {
  const auto gamma = torch::tensor({0.3, 0.7}, torch::kDouble);
  const auto g = grads(gamma, kUpstream);
  const auto gamma_c = gamma.view({2, 1, 1, 1});
  const auto alpha = scales().abs();
  const auto b = kKappa * weights().sign();
  const auto r = weights() - alpha * b;
  EXPECT_TRUE(torch::allclose(g.w, gamma_c * r + alpha * kUpstream));
  EXPECT_TRUE(
      torch::allclose(g.scale, scales().sign() * (channel_sum(kUpstream * weights()) - gamma_c * channel_sum(r * b))));
  // A scalar gamma is the same gamma in every channel.
  const auto scalar = grads(torch::tensor(0.3, torch::kDouble), kUpstream);
  const auto per_channel = grads(torch::tensor({0.3, 0.3}, torch::kDouble), kUpstream);
  EXPECT_TRUE(torch::allclose(scalar.w, per_channel.w));
  EXPECT_TRUE(torch::allclose(scalar.scale, per_channel.scale));
}

TEST(BilinearSign, ScaleGradientWithoutSignFactorWhenAbsIsInside) {
  const auto with_sign = grads(torch::tensor(1e-4, torch::kDouble), kUpstream, true);
  const auto without = grads(torch::tensor(1e-4, torch::kDouble), kUpstream, false);
  EXPECT_TRUE(torch::allclose(with_sign.w, without.w));
  // s_0 = -1.5: the signs differ; s_1 = 0.5: equal.
  EXPECT_TRUE(torch::allclose(with_sign.scale, without.scale * scales().sign()));
  EXPECT_NE(with_sign.scale[0].item<double>(), without.scale[0].item<double>());
}

TEST(BilinearSign, WorksOnLinearWeightsWithOfficialScaleShape) {
  auto w = torch::tensor({{0.5, -0.25}, {0.0, 3.0}}, torch::kDouble).requires_grad_(true);
  auto s = torch::tensor({2.0, -1.0}, torch::kDouble).view({2, 1, 1, 1}).requires_grad_(true);
  const auto g = torch::tensor({{1.0, 2.0}, {3.0, 4.0}}, torch::kDouble);
  const auto y = bilinear_sign(w, s, 0.0);
  EXPECT_TRUE(torch::equal(y, torch::tensor({{0.04, -0.04}, {0.0, 0.02}}, torch::kDouble)));
  (y * g).sum().backward();
  EXPECT_TRUE(torch::allclose(w.grad(), torch::tensor({{2.0, 4.0}, {3.0, 4.0}}, torch::kDouble)));
  EXPECT_EQ(s.grad().sizes(), s.sizes());
  EXPECT_TRUE(torch::allclose(s.grad().flatten(), torch::tensor({0.5 - 0.5, -(0.0 + 12.0)}, torch::kDouble)));
}

TEST(BilinearSign, ShapeMismatchesAreNamed) {
  const auto w = torch::randn({4, 3, 3, 3});
  auto msg = error_of([&] { bilinear_sign(w, torch::randn({3, 1, 1, 1}), 0.0); });
  EXPECT_NE(msg.find("the scale has 3 elements, expected one per output channel of the weight [4, 3, 3, 3]"),
            std::string::npos)
      << msg;
  msg = error_of([&] { bilinear_sign(w, torch::randn({4, 1, 1, 1}), torch::ones({2})); });
  EXPECT_NE(msg.find("gamma has 2 elements, expected 1 or one per output channel"), std::string::npos) << msg;
  msg = error_of([&] { bilinear_sign(torch::randn({4}), torch::randn({4}), 0.0); });
  EXPECT_NE(msg.find("at least 2 dims, got shape [4]"), std::string::npos) << msg;
  msg = error_of([&] { bilinear_sign(w, torch::randn({4}), 0.0, BilinearSignOptions().kappa(0)); });
  EXPECT_NE(msg.find("kappa must be > 0, got 0"), std::string::npos) << msg;
}
