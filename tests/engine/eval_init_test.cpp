// `lowbit eval RECIPE` without --checkpoint evaluates the recipe's model.init in its last stage's
// model: an official checkpoint read through its name map (configs/name_maps/) as it is released.
// The checkpoint here is a small ReActNet-style network written in the official layout
// ({"state_dict": DataParallel(model).state_dict(), "epoch": ...}, ReActNet's train.py); it must
// evaluate exactly as the same weights saved as a lowbit checkpoint.
#include <lowbit/csrc/engine/build.h>
#include <lowbit/csrc/engine/checkpoint/checkpoint.h>
#include <lowbit/csrc/engine/checkpoint/name_map.h>
#include <lowbit/csrc/engine/recipe/recipe.h>
#include <lowbit/csrc/util/files.h>

#include "support/run_cli.h"
#include "support/temp_dir.h"

#include <gtest/gtest.h>

#include <torch/torch.h>

#include <fstream>

namespace {

using lowbit::testing::TempDir;
namespace engine = lowbit::engine;

const char* kReActNetRecipe =
    "name: small_reactnet\nseed: 5\n"
    "data: {dataset: fashion_mnist, batch_size: 50, eval_batch_size: 100, limit_train: 100, limit_test: 300}\n"
    "model: {name: reactnet_resnet18, blocks: [1, 2], widths: [8, 16], small_input: true, in_channels: 1, classes: 10,\n"
    "        weight_quantizer: {name: xnor, scale_grad: detached}, input_quantizer: {name: rsign}}\n"
    "stages:\n"
    "  - {name: step1, epochs: 1, weight_quantizer: {name: identity}, optimizer: {name: adam, lr: 0.001}}\n"
    "  - {name: step2, epochs: 1, optimizer: {name: adam, lr: 0.001}}\n";

// lowbit's names back to ReActNet's (the inverse of configs/name_maps/reactnet_resnet.yaml), under
// DataParallel's "module.".
const engine::NameMap kToOfficial({{"^(layer\\d+\\.\\d+)\\.conv\\.input_quantizer\\.bias$", "$1.move0.bias"},
                                   {"^(layer\\d+\\.\\d+)\\.conv\\.", "$1.binary_conv."},
                                   {"^(layer\\d+\\.\\d+)\\.bn\\.", "$1.bn1."},
                                   {"^(layer\\d+\\.\\d+)\\.activation\\.gamma$", "$1.move1.bias"},
                                   {"^(layer\\d+\\.\\d+)\\.activation\\.beta$", "$1.prelu.weight"},
                                   {"^(layer\\d+\\.\\d+)\\.activation\\.zeta$", "$1.move2.bias"},
                                   {"^", "module."}});

void save_official(const std::string& path, torch::nn::Module& model) {
  c10::Dict<std::string, at::Tensor> state;
  for (const auto& p : model.named_parameters()) state.insert(kToOfficial.apply(p.key()), p.value().detach());
  for (const auto& b : model.named_buffers()) state.insert(kToOfficial.apply(b.key()), b.value());
  c10::impl::GenericDict file(c10::StringType::get(), c10::AnyType::get());
  file.insert("state_dict", state);
  file.insert("epoch", int64_t{127});
  const auto bytes = torch::pickle_save(c10::IValue(file));
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// A model whose batch norms have statistics and whose RSign / RPReLU shifts are not zero, so that
// a tensor loaded into the wrong place changes the predictions.
std::shared_ptr<engine::Model> trained_looking_model(const engine::Recipe& recipe) {
  torch::manual_seed(7);
  auto model = engine::build_model(recipe, recipe.stages.size() - 1);
  torch::NoGradGuard no_grad;
  for (auto& p : model->parameters()) p.add_(torch::randn_like(p) * 0.1);
  for (auto& b : model->named_buffers()) {
    if (b.key().find("running_") != std::string::npos) b.value().uniform_(0.5, 1.5);
  }
  return model;
}

}  // namespace

TEST(EvalInit, AnOfficialLayoutCheckpointEvaluatesThroughItsNameMap) {
  if (!lowbit::util::file_exists("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")) {
    GTEST_SKIP() << "Fashion-MNIST (Debian dataset-fashion-mnist) is absent";
  }
  TempDir dir;
  dir.write("r.yaml", kReActNetRecipe);
  auto model = trained_looking_model(engine::parse_recipe(dir.file("r.yaml")));
  save_official(dir.file("checkpoint.pth.tar"), *model);
  torch::optim::SGD sgd(model->parameters(), 0.1);
  engine::save_checkpoint(dir.file("lowbit.pt"), *model, sgd, {1, 1, 0, 4});

  const auto official = lowbit::testing::run_cli(
      {"eval", dir.file("r.yaml"), "--set", "model.init.checkpoint=" + dir.file("checkpoint.pth.tar"),
       "model.init.format=pytorch", "model.init.name_map=" + std::string(LOWBIT_SOURCE_DIR) + "/configs/name_maps/reactnet_resnet.yaml"});
  ASSERT_EQ(official.status, 0) << official.output;
  const auto own = lowbit::testing::run_cli({"eval", dir.file("r.yaml"), "--checkpoint", dir.file("lowbit.pt")});
  ASSERT_EQ(own.status, 0) << own.output;
  EXPECT_NE(official.output.find("test loss "), std::string::npos) << official.output;
  EXPECT_EQ(official.output, own.output);

  // A checkpoint needs no model.init file: the recipe's, missing here, is not read.
  const auto init_elsewhere =
      lowbit::testing::run_cli({"eval", dir.file("r.yaml"), "--checkpoint", dir.file("lowbit.pt"), "--set",
                                "model.init.checkpoint=" + dir.file("elsewhere.pth")});
  ASSERT_EQ(init_elsewhere.status, 0) << init_elsewhere.output;
  EXPECT_EQ(init_elsewhere.output, own.output);

  const auto without = lowbit::testing::run_cli({"eval", dir.file("r.yaml")});
  EXPECT_EQ(without.status, 2) << without.output;
  EXPECT_NE(without.output.find("eval needs --checkpoint or the recipe's model.init"), std::string::npos) << without.output;
}
