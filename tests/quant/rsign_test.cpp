#include <lowbit/modules/quant/rsign.h>

#include <gtest/gtest.h>

#include <torch/torch.h>

TEST(RSign, LearnableThresholdShiftsSignPerChannel) {
  lowbit::quant::RSign rsign(2);
  {
    torch::NoGradGuard no_grad;
    rsign->bias.copy_(torch::tensor({0.5, -0.5}).view({1, 2, 1, 1}));
  }
  const auto x = torch::tensor({-0.3, -0.3}).view({1, 2, 1, 1});
  EXPECT_TRUE(torch::equal(rsign(x).flatten(), torch::tensor({1.0, -1.0})));
}

TEST(RSign, ThresholdGradientSumsApproxSignOverChannel) {
  lowbit::quant::RSign rsign(2);
  auto x = torch::tensor({{0.0, 0.5}, {-0.5, 2.0}}).requires_grad_(true);  // [N=2, C=2]
  rsign(x).sum().backward();
  // ApproxSign' at x + 0: [2, 1; 1, 0]; channel sums: [3, 1].
  EXPECT_TRUE(torch::equal(x.grad(), torch::tensor({{2.0, 1.0}, {1.0, 0.0}})));
  EXPECT_TRUE(torch::equal(rsign->bias.grad().flatten(), torch::tensor({3.0, 1.0})));
}

TEST(RSign, WrongChannelCountIsRejected) {
  lowbit::quant::RSign rsign(3);
  EXPECT_THROW(rsign(torch::randn({2, 4, 5, 5})), c10::Error);
}
