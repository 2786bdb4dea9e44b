// Q-ViT (W4A4) and Bi-ViT (W1A1) "Swin-T" fit 2,000 Fashion-MNIST images
// (tests/support/fashion_fit.h): Swin-T's architecture (embed_dim 96, depths 2, 2, 6, 2, heads 3,
// 6, 12, 24, mlp_ratio 4) on the 28x28 images resized to 32x32, patch 4 and window 2, so that the
// four stages see 8x8 and 4x4 grids (shifted windows, patch merging) and then 2x2 and 1x1 grids
// (one window, no shift), as Swin-T's 56, 28, 14, 7 at 224 with window 7. Plain cross-entropy: the
// methods' distillation losses are tested on their own. 40 steps of 32 images: each test takes
// 60-80 s with OMP_NUM_THREADS=1 on a shared 2-core machine (most of it the quantizers of Swin-T's
// 28 M weights and Adam, not the 32x32 images).
#include <lowbit/modules/models/registry.h>

#include "support/fashion_fit.h"

#include <gtest/gtest.h>

namespace {

lowbit::Params swin_t_on_32(lowbit::Params options) {
  options.insert({{"image_size", int64_t{32}},
                  {"patch_size", int64_t{4}},
                  {"embed_dim", int64_t{96}},
                  {"depths", std::vector<int64_t>{2, 2, 6, 2}},
                  {"heads", std::vector<int64_t>{3, 6, 12, 24}},
                  {"window_size", int64_t{2}}});
  return options;
}

lowbit::testing::FitResult fit_resized(torch::nn::Sequential& model, const lowbit::testing::FitOptions& options) {
  return lowbit::testing::fit_fashion_mnist(
      *model,
      [&](const torch::Tensor& images) {
        namespace F = torch::nn::functional;
        return model->forward(F::interpolate(
            images, F::InterpolateFuncOptions().size(std::vector<int64_t>{32, 32}).mode(torch::kBilinear).align_corners(false)));
      },
      options);
}

}  // namespace

TEST(MethodTraining, SwinTinyQvitW4A4) {
  torch::manual_seed(0);
  lowbit::models::QuantPolicy policy;
  policy.weight = {"lsq", {{"bits", int64_t{4}}, {"per_channel", true}, {"init_per_channel", false}}};
  policy.input = {"qvit_act", {{"bits", int64_t{4}}}};
  auto model = lowbit::models::make("swin",
                                    swin_t_on_32({{"embed_bits", int64_t{8}},
                                                  {"head_bits", int64_t{8}},
                                                  {"attention_bits", int64_t{4}},
                                                  {"irm", true},
                                                  {"gelu_clip", 10.0}}),
                                    policy);
  const auto result = fit_resized(model, lowbit::testing::FitOptions().steps(40).batch_size(32).lr(3e-4));
  std::cout << "Q-ViT W4A4 Swin-T: " << result << "\n";
  EXPECT_LT(result.last_loss, 0.7 * result.first_loss);  // measured 1.60 -> 0.89
  EXPECT_GT(result.test_accuracy, 0.5);                  // measured 0.69; chance is 0.10
}

TEST(MethodTraining, SwinTinyBivitW1A1) {
  torch::manual_seed(0);
  lowbit::models::QuantPolicy policy;
  policy.weight = {"xnor", {{"scale_grad", std::string("detached")}}};
  policy.input = {"sign", {{"ste", std::string("approx")}}};
  auto model = lowbit::models::make(
      "swin", swin_t_on_32({{"attention_bits", int64_t{1}}, {"linear_bias", false}, {"gelu_clip", 10.0}}), policy);
  const auto result = fit_resized(model, lowbit::testing::FitOptions().steps(40).batch_size(32).lr(1e-3));
  std::cout << "Bi-ViT W1A1 Swin-T: " << result << "\n";
  EXPECT_LT(result.last_loss, 0.75 * result.first_loss);  // measured 2.49 -> 1.43
  EXPECT_GT(result.test_accuracy, 0.35);                  // measured 0.54; chance is 0.10
}
