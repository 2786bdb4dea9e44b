// The recipe's teacher: built from its own model section, loaded from a lowbit checkpoint or a
// PyTorch state dict (with a name map), frozen.
#include <lowbit/csrc/engine/checkpoint/checkpoint.h>
#include <lowbit/csrc/engine/recipe/recipe.h>
#include <lowbit/csrc/engine/recipe/recipe_error.h>
#include <lowbit/csrc/engine/build.h>
#include <lowbit/csrc/engine/train.h>
#include <lowbit/modules/models/registry.h>

#include "support/temp_dir.h"

#include <gtest/gtest.h>

#include <torch/torch.h>

#include <fstream>

namespace {

using lowbit::testing::TempDir;

const char* kRecipe =
    "name: t\ndata: {dataset: fashion_mnist, limit_train: 10, limit_test: 10}\n"
    "model: {name: small_cnn, channels: [4], weight_quantizer: {name: xnor}}\n"
    "stages: [{epochs: 1}]\n";

torch::nn::Sequential fp_model() { return lowbit::models::make("small_cnn", {{"channels", std::vector<int64_t>{4}}}, {}); }

void expect_same_parameters(torch::nn::Module& a, torch::nn::Module& b) {
  auto pb = b.named_parameters();
  for (const auto& p : a.named_parameters()) EXPECT_TRUE(torch::equal(p.value(), pb[p.key()])) << p.key();
}

}  // namespace

TEST(Teacher, LoadsALowbitCheckpointFrozen) {
  TempDir dir;
  torch::manual_seed(5);
  auto source = fp_model();
  torch::optim::SGD sgd(source->parameters(), 0.1);
  lowbit::engine::save_checkpoint(dir.file("teacher.pt"), *source, sgd, {});
  dir.write("r.yaml", std::string(kRecipe) + "teacher: {model: {name: small_cnn, channels: [4]}, checkpoint: " +
                          dir.file("teacher.pt") + "}\n");
  const auto recipe = lowbit::engine::parse_recipe(dir.file("r.yaml"));
  auto teacher = lowbit::engine::build_teacher(recipe);
  expect_same_parameters(*source, *teacher);
  EXPECT_FALSE(teacher->is_training());
  for (const auto& p : teacher->parameters()) EXPECT_FALSE(p.requires_grad());
}

TEST(Teacher, LoadsAPyTorchStateDictThroughANameMap) {
  TempDir dir;
  auto source = fp_model();
  c10::Dict<std::string, at::Tensor> state;
  for (const auto& p : source->named_parameters()) state.insert("backbone." + p.key(), p.value().detach());
  for (const auto& b : source->named_buffers()) state.insert("backbone." + b.key(), b.value());
  const auto bytes = torch::pickle_save(c10::IValue(state));
  std::ofstream(dir.file("weights.pth"), std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  dir.write("r.yaml", std::string(kRecipe) + "teacher:\n  model: {name: small_cnn, channels: [4]}\n  format: pytorch\n"
                          "  checkpoint: " + dir.file("weights.pth") + "\n  name_map: [{pattern: '^backbone\\.', replace: ''}]\n");
  auto teacher = lowbit::engine::build_teacher(lowbit::engine::parse_recipe(dir.file("r.yaml")));
  expect_same_parameters(*source, *teacher);
}

TEST(Teacher, MissingCheckpointPointsAtTheKey) {
  TempDir dir;
  dir.write("r.yaml", std::string(kRecipe) + "teacher: {model: {name: small_cnn, channels: [4]}, checkpoint: /no/such.pt}\n");
  try {
    lowbit::engine::build_teacher(lowbit::engine::parse_recipe(dir.file("r.yaml")));
    FAIL();
  } catch (const lowbit::engine::RecipeError& e) {
    EXPECT_NE(std::string(e.what()).find("teacher.checkpoint: /no/such.pt: checkpoint not found"), std::string::npos)
        << e.what();
  }
}

TEST(Teacher, DamagedCheckpointIsNamedAtTheKey) {
  TempDir dir;
  dir.write("truncated.pt", "PK\x03\x04 half of a zip archive");
  dir.write("r.yaml", std::string(kRecipe) + "teacher: {model: {name: small_cnn, channels: [4]}, checkpoint: " +
                          dir.file("truncated.pt") + "}\n");
  try {
    lowbit::engine::build_teacher(lowbit::engine::parse_recipe(dir.file("r.yaml")));
    FAIL();
  } catch (const lowbit::engine::RecipeError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("teacher.checkpoint: " + dir.file("truncated.pt") + ": cannot load this checkpoint ("),
              std::string::npos)
        << what;
    EXPECT_EQ(what.find('\n'), std::string::npos) << what;
  }
}
