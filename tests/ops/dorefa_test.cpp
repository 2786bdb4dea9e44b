#include <lowbit/csrc/ops/dorefa.h>

#include "support/gradcheck.h"

#include <gtest/gtest.h>

TEST(Dorefa, QuantizeKHasTwoToTheKLevelsInUnitInterval) {
  const auto x = torch::linspace(0, 1, 1001, torch::kDouble);
  for (int64_t k : {1, 2, 3}) {
    const auto levels = std::get<0>(torch::_unique(lowbit::ops::dorefa_quantize(x, k)));
    EXPECT_EQ(levels.numel(), 1 << k);
    EXPECT_DOUBLE_EQ(levels.min().item<double>(), 0.0);
    EXPECT_DOUBLE_EQ(levels.max().item<double>(), 1.0);
  }
}

TEST(Dorefa, WeightsSpanMinusOneToOneUsingTensorMax) {
  const auto w = torch::randn({64, 32}, torch::kDouble);
  const auto q = lowbit::ops::dorefa_weight(w, 2);
  const auto levels = std::get<0>(torch::_unique(q));
  EXPECT_EQ(levels.numel(), 4);
  EXPECT_TRUE(torch::allclose(levels, torch::tensor({-1.0, -1.0 / 3, 1.0 / 3, 1.0}, torch::kDouble)));
  // The entry of largest |w| reaches the extreme level of its sign.
  const auto index = w.abs().argmax();
  EXPECT_DOUBLE_EQ(q.flatten()[index].item<double>(), w.flatten()[index].sign().item<double>());
}

TEST(Dorefa, WeightGradientIsThatOfTanhNormalisation) {
  // With round treated as identity, w_q = tanh(w) / max|tanh(w)|: compare with finite differences
  // at a point where the max entry stays the max under perturbation.
  const auto w = torch::tensor({0.3, -1.2, 0.7, 2.0, -0.1}, torch::kDouble);
  const auto surrogate = [](const torch::Tensor& t) { return torch::tanh(t) / torch::tanh(t).abs().max(); };
  const auto weights = torch::rand({5}, torch::kDouble);
  auto probe = w.clone().requires_grad_(true);
  (lowbit::ops::dorefa_weight(probe, 3) * weights).sum().backward();
  EXPECT_TRUE(torch::allclose(probe.grad(), lowbit::testing::numerical_gradient(
                                                [&](const torch::Tensor& t) { return surrogate(t) * weights; }, w),
                              1e-6, 1e-6));
}

TEST(Dorefa, OneBitWeightsAreMeanScaledSignWithIdentityGradient) {
  auto w = torch::tensor({0.5, -1.5, 1.0}, torch::kDouble).requires_grad_(true);
  const auto q = lowbit::ops::dorefa_weight(w, 1);
  EXPECT_TRUE(torch::allclose(q, torch::tensor({1.0, -1.0, 1.0}, torch::kDouble)));  // E = 1
  (q * torch::tensor({2.0, 3.0, 4.0}, torch::kDouble)).sum().backward();
  EXPECT_TRUE(torch::allclose(w.grad(), torch::tensor({2.0, 3.0, 4.0}, torch::kDouble)));
}

TEST(Dorefa, ActivationGradientIsClipMask) {
  auto x = torch::tensor({-0.5, 0.2, 0.9, 1.4}, torch::kDouble).requires_grad_(true);
  const auto q = lowbit::ops::dorefa_activation(x, 2);
  EXPECT_TRUE(torch::allclose(q, torch::tensor({0.0, 1.0 / 3, 1.0, 1.0}, torch::kDouble)));
  q.sum().backward();
  EXPECT_TRUE(torch::equal(x.grad(), torch::tensor({0.0, 1.0, 1.0, 0.0}, torch::kDouble)));
}

TEST(Dorefa, BitsOutOfRangeAreRejected) {
  EXPECT_THROW(lowbit::ops::dorefa_quantize(torch::ones({2}), 0), c10::ValueError);
  EXPECT_THROW(lowbit::ops::dorefa_weight(torch::ones({2}), 33), c10::ValueError);
}
