// AdaBin's Maxout: y_c = p_c·ReLU(x_c) − n_c·ReLU(−x_c), p = 1 and n = 0.25 at init.
#include <lowbit/modules/layers/maxout.h>

#include "support/error_of.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

using lowbit::layers::Maxout;

TEST(Maxout, AtInitIsPReLUWithAQuarterSlope) {
  torch::manual_seed(0);
  Maxout maxout(3);
  const auto x = torch::randn({2, 3, 4, 4});
  EXPECT_TRUE(torch::allclose(maxout(x), torch::prelu(x, torch::full({3}, 0.25))));
}

TEST(Maxout, ScalesEachSideOfEachChannel) {
  Maxout maxout(2);
  {
    torch::NoGradGuard no_grad;
    maxout->pos_scale.copy_(torch::tensor({2.0, 0.5}));
    maxout->neg_scale.copy_(torch::tensor({0.1, -1.0}));
  }
  const auto x = torch::tensor({{-1.0, 3.0}, {4.0, -2.0}});  // [N=2, C=2]
  // ch0: -1 -> 0.1·(-1) = -0.1, 4 -> 8; ch1: 3 -> 1.5, -2 -> -(-1)·2 = 2.
  EXPECT_TRUE(torch::allclose(maxout(x), torch::tensor({{-0.1, 1.5}, {8.0, 2.0}})));
}

TEST(Maxout, GradientsOfSlopesAreTheSummedRectifiedParts) {
  torch::manual_seed(1);
  Maxout maxout(3);
  maxout->to(torch::kDouble);
  {
    torch::NoGradGuard no_grad;
    maxout->pos_scale.copy_(torch::tensor({1.5, 0.7, 1.0}, torch::kDouble));
    maxout->neg_scale.copy_(torch::tensor({0.3, 0.25, -0.2}, torch::kDouble));
  }
  const auto x = torch::randn({2, 3, 3, 3}, torch::kDouble).requires_grad_(true);
  const auto w = torch::rand({2, 3, 3, 3}, torch::kDouble) + 0.5;
  (maxout(x) * w).sum().backward();
  const std::vector<int64_t> dims = {0, 2, 3};
  EXPECT_TRUE(torch::allclose(maxout->pos_scale.grad(), (torch::relu(x) * w).sum(dims)));
  EXPECT_TRUE(torch::allclose(maxout->neg_scale.grad(), -(torch::relu(-x) * w).sum(dims)));
  const auto p = maxout->pos_scale.view({1, 3, 1, 1}), n = maxout->neg_scale.view({1, 3, 1, 1});
  EXPECT_TRUE(torch::allclose(x.grad(), torch::where(x > 0, p, n) * w));
}

TEST(Maxout, OfficialParameterNamesAndClearErrors) {
  Maxout maxout(4);
  const auto params = maxout->named_parameters();
  ASSERT_EQ(params.size(), 2u);
  EXPECT_EQ(params["pos_scale"].sizes(), torch::IntArrayRef({4}));
  EXPECT_EQ(params["neg_scale"].sizes(), torch::IntArrayRef({4}));
  EXPECT_EQ(lowbit::testing::error_of([] { Maxout(0); }), "Maxout: channels must be >= 1, got 0");
  EXPECT_NE(lowbit::testing::error_of([&] { maxout(torch::ones({1, 3, 2, 2})); })
                .find("Maxout(4): expected input with 4 channels along dim 1, got shape [1, 3, 2, 2]"),
            std::string::npos);
}
