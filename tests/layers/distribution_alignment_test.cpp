#include <lowbit/modules/layers/distribution_alignment.h>

#include "support/error_of.h"
#include "support/gradcheck.h"

#include <gtest/gtest.h>

#include <torch/torch.h>

using lowbit::layers::DistributionAlignment;

TEST(DistributionAlignment, StandardisesEachTokenAndHeadAtInit) {
  torch::manual_seed(0);
  DistributionAlignment da(8);
  // [B, H, L, head_dim] with per-(token, head) offsets and spreads far from (0, 1).
  const auto x = torch::randn({2, 3, 5, 8}) * torch::rand({2, 3, 5, 1}) * 10 + torch::randn({2, 3, 5, 1}) * 5;
  const auto y = da(x);
  EXPECT_TRUE(torch::allclose(y.mean(-1), torch::zeros({2, 3, 5}), 0, 1e-5));
  // Unbiased variance var / (var + 1e-5): 1 up to eps / var.
  EXPECT_TRUE(torch::allclose(y.var(-1, /*unbiased=*/true), torch::ones({2, 3, 5}), 0, 1e-3));
  // The biased variance would be (n - 1) / n = 7/8: the module uses the unbiased one.
  EXPECT_GT(y.var(-1, /*unbiased=*/false).mean().item<double>(), 0.8);
  EXPECT_LT(y.var(-1, /*unbiased=*/false).mean().item<double>(), 0.9);
}

TEST(DistributionAlignment, AffineIsPerHeadDimAndSharedByHeads) {
  DistributionAlignment da(2);
  {
    torch::NoGradGuard no_grad;
    da->scale.copy_(torch::tensor({2.0, 3.0}).view({1, 1, 1, 2}));
    da->bias.copy_(torch::tensor({0.5, -1.0}));
  }
  // Two heads of one token: [1, 2] (mean 1.5, unbiased var 0.5) and [5, 1] (mean 3, var 8).
  const auto x = torch::tensor({{1.0, 2.0}, {5.0, 1.0}});
  const double z1 = 0.5 / std::sqrt(0.5 + 1e-5), z2 = 2.0 / std::sqrt(8.0 + 1e-5);
  const auto expected = torch::tensor({{-2 * z1 + 0.5, 3 * z1 - 1.0}, {2 * z2 + 0.5, -3 * z2 - 1.0}});
  EXPECT_TRUE(torch::allclose(da(x), expected, 1e-5, 1e-6));
}

TEST(DistributionAlignment, GradientsReachInputScaleAndBias) {
  torch::manual_seed(1);
  DistributionAlignment da(4);
  da->to(torch::kDouble);
  {
    torch::NoGradGuard no_grad;
    for (auto& p : da->parameters()) p.add_(torch::randn_like(p) * 0.3);
  }
  const auto x = torch::randn({2, 3, 4}, torch::kDouble);
  const auto on_input = lowbit::testing::compare_gradients([&](const torch::Tensor& t) { return da(t); }, x);
  EXPECT_TRUE(torch::allclose(on_input.analytic, on_input.numeric, 1e-6, 1e-6));
  const auto weights = torch::rand({2, 3, 4}, torch::kDouble) + 0.5;
  for (const auto& p : da->named_parameters()) {
    auto param = p.value();
    const auto as_function = [&](const torch::Tensor& value) {
      torch::NoGradGuard no_grad;
      const auto saved = param.clone();
      param.copy_(value);
      auto y = da(x) * weights;
      param.copy_(saved);
      return y;
    };
    param.mutable_grad() = torch::Tensor();
    (da(x) * weights).sum().backward();
    ASSERT_TRUE(param.grad().defined()) << p.key();
    EXPECT_GT(param.grad().abs().sum().item<double>(), 0.0) << p.key();
    EXPECT_TRUE(torch::allclose(param.grad(), lowbit::testing::numerical_gradient(as_function, param), 1e-6, 1e-6))
        << p.key();
  }
}

TEST(DistributionAlignment, ParameterNamesAndShapesOfTheReleasedCode) {
  DistributionAlignment da(32);
  const auto params = da->named_parameters();
  EXPECT_EQ(params["scale"].sizes(), (std::vector<int64_t>{1, 1, 1, 32}));
  EXPECT_EQ(params["bias"].sizes(), (std::vector<int64_t>{32}));
  EXPECT_TRUE(torch::equal(params["scale"], torch::ones({1, 1, 1, 32})));
  EXPECT_TRUE(torch::equal(params["bias"], torch::zeros({32})));
}

TEST(DistributionAlignment, BadOptionsAndShapesFailClearly) {
  using lowbit::testing::error_of;
  EXPECT_NE(error_of([] { DistributionAlignment(1); }).find("head_dim must be >= 2, got 1"), std::string::npos);
  EXPECT_NE(error_of([] { DistributionAlignment(lowbit::layers::DistributionAlignmentOptions(4).eps(0)); })
                .find("eps must be > 0"),
            std::string::npos);
  DistributionAlignment da(4);
  EXPECT_NE(error_of([&] { da(torch::zeros({2, 8})); }).find("expected input [..., 4], got shape [2, 8]"),
            std::string::npos);
}
