// train.amp (csrc/engine/optim/mixed_precision.h): the recipe's values, fp16 refused on the CPU
// with the reason, and bfloat16 autocast on the CPU training a binary CNN and a W4A4 ViT: the
// quantizers run under it, the gradients reach every parameter in float32, and a short
// `lowbit train` run with train.amp=bf16 finishes with finite weights.
#include <lowbit/csrc/engine/checkpoint/checkpoint.h>
#include <lowbit/csrc/engine/optim/mixed_precision.h>
#include <lowbit/csrc/engine/recipe/recipe.h>
#include <lowbit/csrc/engine/train.h>
#include <lowbit/csrc/util/files.h>
#include <lowbit/modules/models/registry.h>

#include "support/error_of.h"
#include "support/run_cli.h"
#include "support/temp_dir.h"

#include <gtest/gtest.h>

#include <torch/torch.h>

#include <functional>
#include <string>

namespace {

using lowbit::engine::Amp;

std::string recipe_with_amp(lowbit::testing::TempDir& dir, const std::string& amp) {
  dir.write("r.yaml", "name: r\ndata: {dataset: fashion_mnist}\nmodel: {name: small_cnn}\nstages: [{epochs: 1}]\n"
                      "train: {amp: " + amp + "}\n");
  return dir.file("r.yaml");
}

// One training forward and backward of `model` on a random batch under `amp` on the CPU; the loss.
double bf16_step(torch::nn::Sequential& model) {
  torch::manual_seed(3);
  const auto images = torch::randn({16, 1, 28, 28});
  const auto labels = torch::randint(10, {16}, torch::kLong);
  model->train();
  torch::Tensor loss;
  {
    const lowbit::engine::AutocastScope autocast(Amp::BFloat16, torch::kCPU);
    const auto logits = model->forward(images);
    EXPECT_EQ(logits.scalar_type(), torch::kBFloat16);  // the layers ran in bfloat16
    loss = torch::nn::functional::cross_entropy(logits, labels);
  }
  loss.backward();
  for (const auto& p : model->named_parameters()) {
    if (!p.value().requires_grad()) continue;
    const auto& grad = p.value().grad();
    EXPECT_TRUE(grad.defined()) << p.key();
    if (!grad.defined()) continue;
    EXPECT_EQ(grad.scalar_type(), torch::kFloat) << p.key();
    EXPECT_TRUE(grad.isfinite().all().item<bool>()) << p.key();
  }
  return loss.item<double>();
}

}  // namespace

TEST(MixedPrecision, RecipeValuesAndBooleans) {
  lowbit::testing::TempDir dir;
  EXPECT_EQ(lowbit::engine::parse_recipe(recipe_with_amp(dir, "bf16")).train.amp, Amp::BFloat16);
  EXPECT_EQ(lowbit::engine::parse_recipe(recipe_with_amp(dir, "true")).train.amp, Amp::Float16);
  EXPECT_EQ(lowbit::engine::parse_recipe(recipe_with_amp(dir, "fp16")).train.amp, Amp::Float16);
  EXPECT_EQ(lowbit::engine::parse_recipe(recipe_with_amp(dir, "false")).train.amp, Amp::Off);
  const auto bad = lowbit::testing::error_of([&] { lowbit::engine::parse_recipe(recipe_with_amp(dir, "half")); });
  EXPECT_NE(bad.find("train.amp"), std::string::npos) << bad;
  EXPECT_NE(bad.find("unknown value 'half'; expected one of off, fp16, bf16"), std::string::npos) << bad;
  const auto cpu_fp16 = lowbit::testing::error_of(
      [&] { lowbit::engine::check_device(lowbit::engine::parse_recipe(recipe_with_amp(dir, "fp16"))); });
  EXPECT_NE(cpu_fp16.find("float16 mixed precision needs device: cuda"), std::string::npos) << cpu_fp16;
  EXPECT_EQ(lowbit::testing::error_of(
                [&] { lowbit::engine::check_device(lowbit::engine::parse_recipe(recipe_with_amp(dir, "bf16"))); }),
            "(no error)");
}

TEST(MixedPrecision, Bfloat16AutocastTrainsBinaryAndLowBitModelsOnTheCpu) {
  lowbit::models::QuantPolicy binary, w4a4;
  binary.weight = {"xnor", {{"scale_grad", std::string("detached")}}};
  binary.input = {"sign", {{"ste", std::string("approx")}}};
  w4a4.weight = {"lsq", {{"bits", int64_t{4}}, {"per_channel", true}}};
  w4a4.input = {"qvit_act", {{"bits", int64_t{4}}}};
  torch::manual_seed(0);
  auto cnn = lowbit::models::make("small_cnn", {}, binary);
  EXPECT_TRUE(std::isfinite(bf16_step(cnn)));
  torch::manual_seed(0);
  auto vit = lowbit::models::make("vit", {{"attention_bits", int64_t{4}}}, w4a4);
  EXPECT_TRUE(std::isfinite(bf16_step(vit)));
}

TEST(MixedPrecision, Bfloat16RunOfTheDefaultRecipeOnTheCpu) {
  if (!lowbit::util::file_exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")) {
    GTEST_SKIP() << "Fashion-MNIST (Debian dataset-fashion-mnist) is absent";
  }
  lowbit::testing::TempDir dir;
  const std::string recipe = std::string(LOWBIT_SOURCE_DIR) + "/recipes/fashion_mnist/bnn_small_cnn.yaml";
  const auto result = lowbit::testing::run_cli({"train", recipe, "--set", "train.amp=bf16", "--set",
                                                "output=" + dir.file("runs"), "--set", "data.limit_train=1280", "--set",
                                                "data.limit_test=500", "--set", "stages[0].epochs=1"});
  ASSERT_EQ(result.status, 0) << result.output;
  const auto state = lowbit::engine::read_checkpoint_model(dir.file("runs/fashion_mnist_bnn/checkpoint.pt"));
  for (const auto& item : state) {
    if (item.value().is_floating_point()) {
      EXPECT_EQ(item.value().scalar_type(), torch::kFloat) << item.key();
      EXPECT_TRUE(item.value().isfinite().all().item<bool>()) << item.key();
    }
  }
}
