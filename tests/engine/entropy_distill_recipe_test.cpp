// IDa-Det's entropy term named in a recipe's distill: section and trained by `lowbit train`'s
// engine: its sigma and adapters are parameters of the task, updated by the optimizer, saved in
// the checkpoint and restored on resume. To stay fast, the test registers a small CNN that
// publishes what the Faster R-CNN publishes (modules/detection/faster_rcnn.h): an FPN-like map
// (`neck.p2`) and RPN-like proposals (`rpn_head.proposals`); the detector itself is distilled in
// detection_training_test.cpp.
#include <lowbit/csrc/engine/build.h>
#include <lowbit/csrc/engine/checkpoint/checkpoint.h>
#include <lowbit/csrc/engine/recipe/recipe.h>
#include <lowbit/csrc/engine/train.h>
#include <lowbit/csrc/util/files.h>
#include <lowbit/modules/layers/qconv2d.h>
#include <lowbit/modules/models/registry.h>
#include <lowbit/modules/taps/taps.h>

#include "support/temp_dir.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <torch/torch.h>

#include <sstream>

namespace {

namespace engine = lowbit::engine;
using lowbit::testing::TempDir;

// Publishes its input as the tap "p2" (one FPN level) and passes it on.
struct ToyNeckImpl : torch::nn::Cloneable<ToyNeckImpl> {
  void reset() override {}
  torch::Tensor forward(const torch::Tensor& x) {
    lowbit::taps::publish(*this, "p2", x);
    return x;
  }
};
TORCH_MODULE(ToyNeck);

// Publishes two confident proposals per image as the tap "proposals" [2B, 6] (batch index, x1, y1,
// x2, y2, score) in the pixels of the 28 x 28 input (the map has stride 2): a central box, and a
// 12 x 12 box around the map's most active cell. Passes its input on.
struct ToyRpnImpl : torch::nn::Cloneable<ToyRpnImpl> {
  void reset() override {}
  torch::Tensor forward(const torch::Tensor& x) {
    if (!lowbit::taps::recording()) return x;
    torch::NoGradGuard no_grad;
    const int64_t batch = x.size(0), width = x.size(3);
    const auto peak = x.mean(1).flatten(1).argmax(1).to(torch::kFloat);
    const auto cy = (peak.div(width, "floor") * 2 + 1).unsqueeze(1), cx = (peak.remainder(width) * 2 + 1).unsqueeze(1);
    const auto index = torch::arange(batch, torch::kFloat).unsqueeze(1);
    const auto around = torch::cat({index, (cx - 6).clamp_min(0), (cy - 6).clamp_min(0), (cx + 6).clamp_max(28),
                                    (cy + 6).clamp_max(28), torch::full({batch, 1}, 0.9)}, 1);
    const auto central = torch::cat({index, torch::tensor({{4.0, 4.0, 24.0, 24.0, 0.95}}).expand({batch, 5})}, 1);
    lowbit::taps::publish(*this, "proposals", torch::cat({central, around}, 0));
    return x;
  }
};
TORCH_MODULE(ToyRpn);

// 28 x 28 x 1 -> conv 8 (full precision, the first layer) -> conv 16 + pool -> neck (p2, 16 x 14 x 14)
// -> rpn_head -> pool -> linear 10 (full precision, the last layer).
torch::nn::Sequential toy_detector_cnn(lowbit::ParamReader&, const lowbit::models::QuantPolicy& policy) {
  torch::nn::Sequential net;
  const auto conv = [&](int64_t in, int64_t out, bool end) {
    return lowbit::layers::QConv2d(lowbit::layers::QConv2dOptions(in, out, 3)
                                       .padding(1)
                                       .bias(false)
                                       .weight_quantizer(policy.weight_quantizer(end, out))
                                       .input_quantizer(policy.input_quantizer(end, in)));
  };
  net->push_back("stem", conv(1, 8, true));
  net->push_back("stem_bn", torch::nn::BatchNorm2d(8));
  net->push_back("stem_act", torch::nn::Hardtanh());
  net->push_back("body", conv(8, 16, false));
  net->push_back("body_bn", torch::nn::BatchNorm2d(16));
  net->push_back("body_act", torch::nn::Hardtanh());
  net->push_back("body_pool", torch::nn::MaxPool2d(2));
  net->push_back("neck", ToyNeck());
  net->push_back("rpn_head", ToyRpn());
  net->push_back("pool", torch::nn::AdaptiveAvgPool2d(4));
  net->push_back("flatten", torch::nn::Flatten());
  net->push_back("head", torch::nn::Linear(16 * 16, 10));
  return net;
}
LOWBIT_REGISTER_MODEL(toy_detector_cnn, toy_detector_cnn);

const char* kRecipe =
    "name: ida\nseed: 2\n"
    "data: {dataset: fashion_mnist, batch_size: 32, limit_train: 256, limit_test: 64}\n"
    "model: {name: toy_detector_cnn, weight_quantizer: {name: idadet}, input_quantizer: {name: sign, ste: approx}}\n"
    "stages: [{epochs: 2, optimizer: {name: sgd, lr: 0.05, momentum: 0.9}, grad_clip: 35}]\n"
    "train: {log_every: 4}\n"
    "distill:\n  terms:\n    - {loss: ce}\n"
    "    - {loss: entropy, weight: 0.5, levels: 1, channels: 16, feature_pattern: '^neck\\.p2$',\n"
    "       proposals_tap: rpn_head.proposals}\n";

// A real-valued teacher of the same shape, saved as a lowbit checkpoint; returns its teacher: section.
std::string save_toy_teacher(const TempDir& dir) {
  torch::manual_seed(5);
  auto teacher = lowbit::models::make("toy_detector_cnn", {}, {});
  torch::optim::SGD sgd(teacher->parameters(), 0.1);
  engine::save_checkpoint(dir.file("teacher.pt"), *teacher, sgd, {});
  return "teacher: {model: {name: toy_detector_cnn}, checkpoint: " + dir.file("teacher.pt") + "}\n";
}

// The task's parameters when the run starts.
struct Snapshot : engine::Hook {
  void before_epoch(engine::TrainState& s) override {
    if (!initial.is_empty()) return;
    for (const auto& p : s.task->named_parameters()) initial.insert(p.key(), p.value().detach().clone());
  }
  torch::OrderedDict<std::string, torch::Tensor> initial;
};

bool fashion_mnist_installed() {
  return lowbit::util::file_exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz");
}

}  // namespace

TEST(EntropyDistillRecipe, SigmaAndAdaptersTrainCheckpointAndResume) {
  if (!fashion_mnist_installed()) GTEST_SKIP() << "Fashion-MNIST (Debian dataset-fashion-mnist) is absent";
  at::set_num_threads(1);
  TempDir dir;
  dir.write("r.yaml", std::string(kRecipe) + save_toy_teacher(dir));
  const auto recipe = engine::parse_recipe(dir.file("r.yaml"));
  engine::validate(recipe);
  for (const auto* run : {"a", "b"}) lowbit::util::make_directories(dir.file(run));

  std::ostringstream out;
  auto options = engine::runner_options(recipe, dir.file("a"), false, out);
  auto snapshot = std::make_shared<Snapshot>();
  options.hooks = {snapshot};
  const auto result = engine::Runner(options).run();
  EXPECT_EQ(result.steps, 16);

  // sigma and the adapter moved from their initial values: the optimizer trains them.
  const auto trained = result.task->named_parameters();
  ASSERT_EQ(snapshot->initial.keys(),
            (std::vector<std::string>{"distill.entropy.sigma", "distill.entropy.neck_adapt.0.0.weight",
                                      "distill.entropy.neck_adapt.0.0.bias"}));
  EXPECT_FLOAT_EQ(snapshot->initial["distill.entropy.sigma"].item<float>(), 1.000001f);
  for (const auto& p : snapshot->initial) EXPECT_FALSE(torch::equal(p.value(), trained[p.key()])) << p.key();

  // The term is logged, and the checkpoint holds the task's state.
  EXPECT_NE(lowbit::util::read_file(dir.file("a/metrics.jsonl")).find("\"loss_entropy\""), std::string::npos);
  auto task = engine::runner_options(recipe, dir.file("a"), false, out).task();
  auto model = engine::build_model(recipe, 0);
  engine::load_checkpoint(dir.file("a/checkpoint.pt"), *model, nullptr, nullptr, task.get());
  for (const auto& p : task->named_parameters()) EXPECT_TRUE(torch::equal(p.value(), trained[p.key()])) << p.key();

  // One epoch, then resumed for the second (a constant schedule): the same model and task state.
  const auto one = engine::parse_recipe(dir.file("r.yaml"), {"stages[0].epochs=1"});
  engine::train(one, dir.file("b"), false, out);
  const auto resumed = engine::train(recipe, dir.file("b"), true, out);
  EXPECT_NE(out.str().find("resumed"), std::string::npos);
  for (const auto& p : resumed.task->named_parameters()) EXPECT_TRUE(torch::equal(p.value(), trained[p.key()])) << p.key();
  const auto expected = result.model->named_parameters();
  for (const auto& p : resumed.model->named_parameters()) EXPECT_TRUE(torch::equal(p.value(), expected[p.key()])) << p.key();
  std::cout << "sigma " << snapshot->initial["distill.entropy.sigma"].item<double>() << " -> "
            << trained["distill.entropy.sigma"].item<double>() << ", adapter |dW| "
            << (trained["distill.entropy.neck_adapt.0.0.weight"] - snapshot->initial["distill.entropy.neck_adapt.0.0.weight"])
                   .abs()
                   .sum()
                   .item<double>()
            << ", test top1 " << result.final_eval.value("top1") << "\n";
}
