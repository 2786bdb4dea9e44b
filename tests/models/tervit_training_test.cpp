// TerViT's progressive training (shared/methods/tervit.md sections 3, 4) on 2,000 Fashion-MNIST
// images (tests/support/fashion_fit.h): the small `vit` at W8A8 (Q-ViT's LSQ weights per channel
// and ActQ inputs, 8-bit embedding and head), then the same latent weights and activation state
// carried by the engine's stage switch (copy_matching) into a model with ternary block weights.
#include <lowbit/csrc/engine/loop/stage_switch.h>
#include <lowbit/modules/models/registry.h>

#include "support/fashion_fit.h"

#include <gtest/gtest.h>

#include <chrono>

TEST(MethodTraining, TervitProgressive) {
  torch::manual_seed(0);
  const lowbit::Params vit = {{"embed_bits", int64_t{8}}, {"head_bits", int64_t{8}}};
  lowbit::models::QuantPolicy w8a8;
  w8a8.weight = {"lsq", {{"bits", int64_t{8}}, {"per_channel", true}, {"init_per_channel", false}}};
  w8a8.input = {"qvit_act", {{"bits", int64_t{8}}}};
  auto w2a8 = w8a8;
  w2a8.weight = {"ternary", {}};  // TWN scale per output channel, delta 0.7

  const auto started = std::chrono::steady_clock::now();
  auto stage1 = lowbit::models::make("vit", vit, w8a8);
  const auto r1 = lowbit::testing::fit_fashion_mnist(stage1, lowbit::testing::FitOptions().steps(150).lr(2e-3));
  auto stage2 = lowbit::models::make("vit", vit, w2a8);
  lowbit::engine::copy_matching(*stage1, *stage2);
  const auto r2 =
      lowbit::testing::fit_fashion_mnist(stage2, lowbit::testing::FitOptions().steps(150).lr(1e-3).seed(1));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::cout << "TerViT: W8A8 loss " << r1.first_loss << " -> " << r1.last_loss << " (test " << r1.test_accuracy
            << "), ternary W2A8 loss " << r2.first_loss << " -> " << r2.last_loss << ", test accuracy "
            << r2.test_accuracy << ", " << seconds << " s\n";
  EXPECT_LT(r2.last_loss, 0.6 * r1.first_loss);
  EXPECT_GT(r2.test_accuracy, 0.6);  // chance is 0.10
  // Progressive: the ternary model starts from the 8-bit one, far below a fresh model's loss.
  EXPECT_LT(r2.first_loss, 0.8 * r1.first_loss);
}
