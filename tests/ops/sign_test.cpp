#include <lowbit/csrc/ops/sign.h>

#include "support/gradcheck.h"

#include <gtest/gtest.h>

using lowbit::ops::Ste;

namespace {

torch::Tensor grad_of_sign(const torch::Tensor& values, Ste ste) {
  auto x = values.clone().requires_grad_(true);
  lowbit::ops::sign(x, ste).sum().backward();
  return x.grad();
}

const auto kPoints = torch::tensor({-1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5}, torch::kDouble);

}  // namespace

TEST(Sign, ForwardIsSignWithZeroAtZero) {
  const auto y = lowbit::ops::sign(kPoints, Ste::Clipped);
  EXPECT_TRUE(torch::equal(y, torch::tensor({-1.0, -1.0, -1.0, 0.0, 1.0, 1.0, 1.0}, torch::kDouble)));
}

TEST(SignIdentitySte, GradientPassesUnchanged) {
  EXPECT_TRUE(torch::equal(grad_of_sign(kPoints, Ste::Identity), torch::ones({7}, torch::kDouble)));
}

TEST(SignClippedSte, GradientIsMaskOfUnitInterval) {
  EXPECT_TRUE(torch::equal(grad_of_sign(kPoints, Ste::Clipped),
                           torch::tensor({0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0}, torch::kDouble)));
}

TEST(SignApproxSte, GradientFollowsBiRealPolynomial) {
  EXPECT_TRUE(torch::equal(grad_of_sign(kPoints, Ste::ApproxSign),
                           torch::tensor({0.0, 0.0, 1.0, 2.0, 1.0, 0.0, 0.0}, torch::kDouble)));
}

TEST(SignApproxSte, GradientIsDerivativeOfQuadraticSurrogate) {
  // F(x) = -1 (x<-1), x^2+2x ([-1,0)), -x^2+2x ([0,1)), 1 (x>=1); smooth away from -1, 0, 1.
  const auto surrogate = [](const torch::Tensor& x) {
    const auto c = x.clamp(-1, 1);
    return torch::where(c < 0, c * c + 2 * c, -c * c + 2 * c);
  };
  const auto x = torch::tensor({-1.7, -0.83, -0.31, 0.12, 0.47, 0.96, 2.2}, torch::kDouble);
  EXPECT_TRUE(torch::allclose(grad_of_sign(x, Ste::ApproxSign), lowbit::testing::numerical_gradient(surrogate, x),
                              1e-6, 1e-6));
}

TEST(SignClippedSte, GradientIsDerivativeOfHardtanh) {
  const auto x = torch::tensor({-1.7, -0.83, 0.12, 0.96, 2.2}, torch::kDouble);
  EXPECT_TRUE(torch::allclose(grad_of_sign(x, Ste::Clipped),
                              lowbit::testing::numerical_gradient([](const torch::Tensor& t) { return t.clamp(-1, 1); }, x),
                              1e-6, 1e-6));
}

TEST(Sign, ScalesUpstreamGradient) {
  auto x = torch::tensor({-0.5, 0.5, 2.0}, torch::requires_grad());
  (lowbit::ops::sign(x, Ste::ApproxSign) * torch::tensor({3.0, -2.0, 5.0})).sum().backward();
  EXPECT_TRUE(torch::allclose(x.grad(), torch::tensor({3.0, -2.0, 0.0})));
}

TEST(Sign, HalfPrecisionKernelMatchesFloat) {
  const auto x = torch::randn({1000});
  for (auto dtype : {torch::kHalf, torch::kBFloat16}) {
    const auto low = grad_of_sign(x.to(dtype), Ste::ApproxSign);
    EXPECT_EQ(low.scalar_type(), dtype);
    EXPECT_TRUE(torch::allclose(low.to(torch::kFloat), grad_of_sign(x.to(dtype).to(torch::kFloat), Ste::ApproxSign),
                                1e-2, 1e-2));
  }
}

TEST(Sign, UnknownEstimatorNameSuggestsSpelling) {
  try {
    lowbit::ops::parse_ste("aprox");
    FAIL() << "expected an error";
  } catch (const c10::Error& e) {
    EXPECT_NE(e.msg().find("unknown straight-through estimator 'aprox' (did you mean 'approx'?)"), std::string::npos)
        << e.msg();
  }
  EXPECT_EQ(lowbit::ops::parse_ste("clipped"), Ste::Clipped);
}
