// FrozenBatchNorm2d: DETR's formula with eps 1e-5, state in four buffers that nothing trains.
#include <lowbit/modules/detection/frozen_batch_norm.h>

#include <gtest/gtest.h>

#include <torch/torch.h>

using lowbit::detection::FrozenBatchNorm2d;

namespace {

FrozenBatchNorm2d with_statistics() {
  FrozenBatchNorm2d bn(2);
  bn->weight.copy_(torch::tensor({2.0, 0.5}));
  bn->bias.copy_(torch::tensor({1.0, -1.0}));
  bn->running_mean.copy_(torch::tensor({0.5, -2.0}));
  bn->running_var.copy_(torch::tensor({4.0, 0.25}));
  return bn;
}

}  // namespace

TEST(FrozenBatchNorm2d, IsTheAffineNormalisationWithEps) {
  auto bn = with_statistics();
  const auto x = torch::randn({3, 2, 4, 5});
  const auto view = [](double a, double b) { return torch::tensor({a, b}).view({1, 2, 1, 1}); };
  const auto expected = (x - view(0.5, -2.0)) / torch::sqrt(view(4.0, 0.25) + 1e-5) * view(2.0, 0.5) + view(1.0, -1.0);
  EXPECT_TRUE(torch::allclose(bn(x), expected, 1e-5, 1e-6));
}

TEST(FrozenBatchNorm2d, HoldsTheOfficialBuffersAndNoParameters) {
  FrozenBatchNorm2d bn(3);
  EXPECT_TRUE(bn->parameters().empty());
  EXPECT_EQ(bn->named_buffers().keys(), (std::vector<std::string>{"weight", "bias", "running_mean", "running_var"}));
  EXPECT_TRUE(torch::equal(bn->weight, torch::ones({3})));
  EXPECT_TRUE(torch::equal(bn->running_var, torch::ones({3})));
  EXPECT_TRUE(torch::equal(bn->bias, torch::zeros({3})));
  EXPECT_TRUE(torch::equal(bn->running_mean, torch::zeros({3})));
}

TEST(FrozenBatchNorm2d, IsNotTrainedButPassesGradientsToItsInput) {
  auto bn = with_statistics();
  const auto before = bn->running_mean.clone();
  bn->train();
  const auto x = torch::randn({2, 2, 3, 3}, torch::requires_grad());
  bn(x).sum().backward();
  EXPECT_TRUE(torch::equal(bn->running_mean, before));  // training mode does not update statistics
  for (const auto& buffer : bn->buffers()) EXPECT_FALSE(buffer.requires_grad());
  const auto scale = torch::tensor({2.0 / std::sqrt(4.0 + 1e-5), 0.5 / std::sqrt(0.25 + 1e-5)}).view({1, 2, 1, 1});
  EXPECT_TRUE(torch::allclose(x.grad(), scale.expand_as(x), 1e-5, 1e-6));
}
