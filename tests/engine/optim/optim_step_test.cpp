// OptimStep: the order of one optimizer step, and gradient clipping that matches LibTorch's
// clip_grad_norm_ bit for bit without reading the norm back to the host.
#include <lowbit/csrc/engine/optim/optim_step.h>

#include <gtest/gtest.h>

#include <torch/torch.h>

namespace {

std::vector<torch::Tensor> with_gradients(uint64_t seed) {
  torch::manual_seed(seed);
  std::vector<torch::Tensor> params{torch::randn({3, 4}, torch::requires_grad()), torch::randn({5}, torch::requires_grad()),
                                    torch::randn({2}, torch::requires_grad())};
  (params[0].pow(3).sum() + params[1].exp().sum() * 4).backward();  // params[2] gets no gradient
  return params;
}

}  // namespace

TEST(ClipGradNorm, MatchesLibTorchBitForBit) {
  for (const double max_norm : {0.5, 1e3}) {
    auto mine = with_gradients(3), theirs = with_gradients(3);
    const auto total = lowbit::engine::clip_grad_norm(mine, max_norm);
    const double expected = torch::nn::utils::clip_grad_norm_(theirs, max_norm);
    EXPECT_EQ(total.item<double>(), expected);
    for (size_t i = 0; i < 2; ++i) EXPECT_TRUE(torch::equal(mine[i].grad(), theirs[i].grad())) << i;
    EXPECT_FALSE(mine[2].grad().defined());
  }
  // Clipped to the bound: the global norm afterwards is max_norm (up to the 1e-6 guard).
  auto clipped = with_gradients(4);
  lowbit::engine::clip_grad_norm(clipped, 0.5);
  const auto after = torch::stack({clipped[0].grad().norm(), clipped[1].grad().norm()}).norm().item<double>();
  EXPECT_NEAR(after, 0.5, 1e-5);
  EXPECT_FALSE(lowbit::engine::clip_grad_norm({torch::zeros({2}, torch::requires_grad())}, 1.0).defined());
}

TEST(OptimStep, ZeroesBacksClipsAndSteps) {
  auto w = torch::ones({2}, torch::requires_grad());
  torch::optim::SGD sgd({w}, torch::optim::SGDOptions(0.1));
  w.mutable_grad() = torch::full({2}, 100.0);  // stale: zero_grad must drop it
  lowbit::engine::OptimStep step(sgd, {w}, 0.0, false);
  EXPECT_TRUE(step((w * torch::tensor({3.0, 4.0})).sum()));
  EXPECT_TRUE(torch::allclose(w, torch::tensor({1 - 0.3, 1 - 0.4})));

  auto v = torch::ones({2}, torch::requires_grad());
  torch::optim::SGD sgd2({v}, torch::optim::SGDOptions(0.1));
  lowbit::engine::OptimStep clipped(sgd2, {v}, 1.0, false);  // gradient (3, 4) has norm 5: scaled to norm 1
  clipped((v * torch::tensor({3.0, 4.0})).sum());
  EXPECT_TRUE(torch::allclose(v, torch::tensor({1 - 0.1 * 0.6, 1 - 0.1 * 0.8}), 1e-6));
}
