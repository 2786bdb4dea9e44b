// `model.init`: the student's starting weights, loaded through the teacher's loader
// (load_weights) from a lowbit checkpoint or a PyTorch state dict with a name map.
#include <lowbit/csrc/engine/checkpoint/checkpoint.h>
#include <lowbit/csrc/engine/recipe/recipe.h>
#include <lowbit/csrc/engine/recipe/recipe_error.h>
#include <lowbit/csrc/engine/build.h>
#include <lowbit/csrc/engine/train.h>
#include <lowbit/csrc/util/files.h>
#include <lowbit/modules/models/registry.h>

#include "support/temp_dir.h"

#include <gtest/gtest.h>

#include <torch/torch.h>

#include <fstream>
#include <sstream>

namespace {

using lowbit::testing::TempDir;

const char* kRecipe =
    "name: t\ndata: {dataset: fashion_mnist, batch_size: 10, limit_train: 20, limit_test: 10}\n"
    "stages: [{epochs: 1, optimizer: {name: sgd, lr: 1.0e-12, momentum: 0}}]\n";

torch::nn::Sequential fp_model() {
  torch::manual_seed(11);
  return lowbit::models::make("small_cnn", {{"channels", std::vector<int64_t>{4, 8}}}, {});
}

void expect_same_parameters(torch::nn::Module& a, torch::nn::Module& b, double atol = 0) {
  auto pb = b.named_parameters();
  for (const auto& p : a.named_parameters()) {
    ASSERT_TRUE(pb.contains(p.key())) << p.key();
    EXPECT_TRUE(torch::allclose(p.value(), pb[p.key()], 0, atol)) << p.key();
  }
}

std::string error_at(const std::string& recipe_file) {
  try {
    lowbit::engine::build_initial_model(lowbit::engine::parse_recipe(recipe_file));
  } catch (const lowbit::engine::RecipeError& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST(ModelInit, LoadsALowbitCheckpointIntoTheFirstStage) {
  TempDir dir;
  auto source = fp_model();
  torch::optim::SGD sgd(source->parameters(), 0.1);
  lowbit::engine::save_checkpoint(dir.file("fp.pt"), *source, sgd, {});
  dir.write("r.yaml", std::string(kRecipe) + "model: {name: small_cnn, channels: [4, 8], weight_quantizer: {name: xnor},\n"
                          "        init: {checkpoint: " + dir.file("fp.pt") + "}}\n");
  const auto recipe = lowbit::engine::parse_recipe(dir.file("r.yaml"));
  ASSERT_TRUE(recipe.model.init.has_value());
  EXPECT_EQ(recipe.model.init->path, "model.init");
  auto student = lowbit::engine::build_initial_model(recipe);
  expect_same_parameters(*source, *student);
  // build_model alone does not load: a model built without init differs.
  auto plain = lowbit::engine::build_model(recipe, 0);
  EXPECT_FALSE(torch::equal(plain->named_parameters()[source->named_parameters().keys()[0]],
                            source->named_parameters()[0].value()));
}

TEST(ModelInit, PyTorchStateDictThroughANameMapAndNonStrictQuantizerState) {
  TempDir dir;
  auto source = fp_model();
  c10::Dict<std::string, at::Tensor> state;
  for (const auto& p : source->named_parameters()) state.insert("module." + p.key(), p.value().detach());
  for (const auto& b : source->named_buffers()) state.insert("module." + b.key(), b.value());
  const auto bytes = torch::pickle_save(c10::IValue(state));
  std::ofstream(dir.file("w.pth"), std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  // An LSQ student: the file has no `step` / `initialized`, so strict loading fails and names them.
  const std::string model = "model:\n  name: small_cnn\n  channels: [4, 8]\n  weight_quantizer: {name: lsq, bits: 4}\n"
                            "  init:\n    checkpoint: " + dir.file("w.pth") + "\n    format: pytorch\n"
                            "    name_map: [{pattern: '^module\\.', replace: ''}]\n";
  dir.write("strict.yaml", std::string(kRecipe) + model);
  const auto msg = error_at(dir.file("strict.yaml"));
  EXPECT_NE(msg.find("strict.yaml:9: model.init.checkpoint: "), std::string::npos) << msg;
  EXPECT_NE(msg.find("weight_quantizer.step"), std::string::npos) << msg;

  dir.write("loose.yaml", std::string(kRecipe) + model + "    strict: false\n");
  const auto recipe = lowbit::engine::parse_recipe(dir.file("loose.yaml"));
  auto student = lowbit::engine::build_initial_model(recipe);
  expect_same_parameters(*source, *student);
}

TEST(ModelInit, AFreshRunStartsFromItAndValidateChecksIt) {
  TempDir dir;
  auto source = fp_model();
  torch::optim::SGD sgd(source->parameters(), 0.1);
  lowbit::engine::save_checkpoint(dir.file("fp.pt"), *source, sgd, {});
  dir.write("r.yaml", std::string(kRecipe) + "model: {name: small_cnn, channels: [4, 8], init: {checkpoint: " +
                          dir.file("fp.pt") + "}}\n");
  const auto recipe = lowbit::engine::parse_recipe(dir.file("r.yaml"));
  lowbit::engine::validate(recipe);
  lowbit::util::make_directories(dir.file("run"));
  std::ostringstream log;
  auto result = lowbit::engine::train(recipe, dir.file("run"), false, log);
  EXPECT_EQ(result.steps, 2);
  expect_same_parameters(*source, *result.model, 1e-6);  // lr 1e-12: still the loaded weights

  dir.write("bad.yaml", std::string(kRecipe) + "model: {name: small_cnn, channels: [4, 8], init: {checkpoint: /no/fp.pt}}\n");
  try {
    lowbit::engine::validate(lowbit::engine::parse_recipe(dir.file("bad.yaml")));
    FAIL();
  } catch (const lowbit::engine::RecipeError& e) {
    EXPECT_NE(std::string(e.what()).find("bad.yaml:4: model.init.checkpoint: /no/fp.pt: checkpoint not found"),
              std::string::npos) << e.what();
  }
}

TEST(ModelInit, RecipeErrorsPointAtTheKey) {
  TempDir dir;
  const auto parse_error = [&](const std::string& tail) {
    dir.write("r.yaml", std::string(kRecipe) + tail);
    try {
      lowbit::engine::parse_recipe(dir.file("r.yaml"));
    } catch (const lowbit::engine::RecipeError& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  auto msg = parse_error("model: {name: small_cnn, init: {format: pytorch}}\n");
  EXPECT_NE(msg.find("model.init.checkpoint: missing (required)"), std::string::npos) << msg;
  msg = parse_error("model: {name: small_cnn, init: {checkpoint: a.pt, strict: false, name_mapp: []}}\n");
  EXPECT_NE(msg.find("model.init.name_mapp"), std::string::npos) << msg;
  msg = parse_error("model: {name: small_cnn, init: {checkpoint: a.pt, entry: model}}\n");
  EXPECT_NE(msg.find("model.init.entry: only a format: pytorch state dict has entries"), std::string::npos) << msg;
  msg = parse_error("model: {name: small_cnn}\nteacher: {model: {name: small_cnn, init: {checkpoint: a.pt}}, checkpoint: b.pt}\n");
  EXPECT_NE(msg.find("teacher.model.init: the teacher's weights are teacher.checkpoint"), std::string::npos) << msg;
}
