// IR-Net's EDE sign (AdaBin's BinaryQuantize): sign forward, k·t·(1 − tanh²(t·x)) backward.
#include <lowbit/csrc/ops/ede_sign.h>

#include "support/error_of.h"
#include "support/gradcheck.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

using lowbit::ops::ede_sign;

namespace {

torch::Tensor scalar(double v) { return torch::tensor(v, torch::kDouble); }

}  // namespace

TEST(EdeSign, ForwardIsSignWithZeroAtZero) {
  const auto x = torch::tensor({-2.0, -1e-9, 0.0, 1e-9, 3.0});
  EXPECT_TRUE(torch::equal(ede_sign(x, scalar(10), scalar(0.1)), torch::tensor({-1.0, -1.0, 0.0, 1.0, 1.0})));
}

TEST(EdeSign, BackwardIsTheDerivativeOfScaledTanh) {
  for (const auto& [k, t] : {std::pair{10.0, 0.1}, std::pair{1.0, 10.0}, std::pair{3.0, 0.7}}) {
    const auto x = torch::tensor({-2.0, -0.3, 0.0, 0.05, 1.5}, torch::kDouble);
    // The surrogate k·tanh(t·x) is smooth, so its central differences are the expected gradient.
    const auto numeric = lowbit::testing::numerical_gradient([&](const torch::Tensor& v) { return k * torch::tanh(t * v); }, x);
    const auto probe = x.clone().requires_grad_(true);
    ede_sign(probe, scalar(k), scalar(t)).backward(torch::ones_like(x));
    EXPECT_TRUE(torch::allclose(probe.grad(), numeric, 1e-6, 1e-8)) << "k " << k << " t " << t;
    const auto closed = k * t * (1 - torch::tanh(t * x).pow(2));
    EXPECT_TRUE(torch::allclose(probe.grad(), closed, 1e-12, 1e-14));
  }
}

TEST(EdeSign, UpstreamGradientIsMultiplied) {
  const auto x = torch::tensor({0.0, 2.0}, torch::kDouble).requires_grad_(true);
  ede_sign(x, scalar(2), scalar(0.5)).backward(torch::tensor({3.0, -1.0}, torch::kDouble));
  // k·t = 1 at x = 0; at x = 2: 1 − tanh²(1).
  const double at_two = 1 - std::pow(std::tanh(1.0), 2);
  EXPECT_TRUE(torch::allclose(x.grad(), torch::tensor({3.0, -at_two}, torch::kDouble)));
}

TEST(EdeSign, FirstEpochOfTheScheduleIsNearlyTheIdentity) {
  // t = 1e-3, k = 1000: the gradient stays within 1e-4 of 1 for |x| <= 10.
  const auto x = torch::linspace(-10, 10, 41, torch::kDouble).requires_grad_(true);
  ede_sign(x, scalar(1000), scalar(1e-3)).sum().backward();
  EXPECT_LT((x.grad() - 1).abs().max().item<double>(), 1e-4);
  EXPECT_GT(x.grad().min().item<double>(), 0.9999);
}

TEST(EdeSign, KAndTReceiveNoGradient) {
  const auto k = scalar(10).requires_grad_(true), t = scalar(0.1).requires_grad_(true);
  const auto x = torch::tensor({0.5}, torch::kDouble).requires_grad_(true);
  ede_sign(x, k, t).sum().backward();
  EXPECT_FALSE(k.grad().defined());
  EXPECT_FALSE(t.grad().defined());
}

TEST(EdeSign, KAndTMustBeScalars) {
  EXPECT_NE(lowbit::testing::error_of([] { ede_sign(torch::ones({2}), torch::ones({2}), scalar(0.1)); })
                .find("ede_sign: k and t must hold one value each"),
            std::string::npos);
}
