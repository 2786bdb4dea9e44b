// Q-ViT (W4A4) and Bi-ViT (W1A1) small vision transformers fit 2,000 Fashion-MNIST images
// (tests/support/fashion_fit.h): 28x28 images, 7x7 patches (16 tokens + cls), dim 64, 2 blocks.
// Plain cross-entropy: the distillation losses of both methods are tested on their own.
#include <lowbit/modules/models/registry.h>

#include "support/fashion_fit.h"

#include <gtest/gtest.h>


TEST(MethodTraining, QvitW4A4) {
  torch::manual_seed(0);
  lowbit::models::QuantPolicy policy;
  policy.weight = {"lsq", {{"bits", int64_t{4}}, {"per_channel", true}, {"init_per_channel", false}}};
  policy.input = {"qvit_act", {{"bits", int64_t{4}}}};
  auto model = lowbit::models::make("vit",
                                    {{"embed_bits", int64_t{8}},
                                     {"head_bits", int64_t{8}},
                                     {"attention_bits", int64_t{4}},
                                     {"irm", true},
                                     {"gelu_clip", 10.0}},
                                    policy);
  const auto result = lowbit::testing::fit_fashion_mnist(model, lowbit::testing::FitOptions().steps(300).lr(2e-3));
  std::cout << "Q-ViT W4A4: " << result << "\n";
  EXPECT_LT(result.last_loss, 0.6 * result.first_loss);
  EXPECT_GT(result.test_accuracy, 0.65);  // chance is 0.10
}

TEST(MethodTraining, BivitW1A1) {
  torch::manual_seed(0);
  lowbit::models::QuantPolicy policy;
  policy.weight = {"xnor", {{"scale_grad", std::string("detached")}}};
  policy.input = {"sign", {{"ste", std::string("approx")}}};
  auto model = lowbit::models::make(
      "vit", {{"attention_bits", int64_t{1}}, {"irm", true}, {"linear_bias", false}, {"gelu_clip", 10.0}}, policy);
  const auto result = lowbit::testing::fit_fashion_mnist(model, lowbit::testing::FitOptions().steps(300).lr(2e-3));
  std::cout << "Bi-ViT W1A1: " << result << "\n";
  EXPECT_LT(result.last_loss, 0.8 * result.first_loss);
  EXPECT_GT(result.test_accuracy, 0.5);  // chance is 0.10
}
