// Extending lowbit, example: train your own module (not built by name, not a Sequential) through
// the engine's C++ API, with a loss term and a metric of your own, registered by name
// (docs/extending.md). Trains on 2,000 Fashion-MNIST images for two epochs.
#include <lowbit/csrc/engine/datasets/dataset.h>
#include <lowbit/csrc/engine/loop/runner.h>
#include <lowbit/csrc/engine/metrics/metric.h>
#include <lowbit/csrc/engine/objective/distiller.h>
#include <lowbit/csrc/engine/objective/loss_term.h>
#include <lowbit/csrc/engine/task/classification.h>
#include <lowbit/csrc/util/files.h>
#include <lowbit/modules/layers/qlinear.h>
#include <lowbit/modules/quant/registry.h>

#include "support/temp_dir.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <torch/torch.h>

#include <sstream>

namespace {

namespace engine = lowbit::engine;

// The model: an MLP with a binary hidden layer, implementing the engine's Model contract itself.
struct BinaryMlp : engine::Model {
  BinaryMlp()
      : fc1(register_module("fc1", torch::nn::Linear(784, 128))),
        fc2(register_module("fc2", lowbit::layers::QLinear(lowbit::layers::QLinearOptions(128, 128)
                                                               .weight_quantizer(lowbit::quant::make("xnor"))
                                                               .input_quantizer(lowbit::quant::make("sign"))))),
        norm(register_module("norm", torch::nn::BatchNorm1d(128))),
        out(register_module("out", torch::nn::Linear(128, 10))) {}

  engine::Outputs forward(const engine::Batch& batch) override {
    auto x = torch::hardtanh(fc1(batch.images.flatten(1)));
    x = torch::hardtanh(norm(fc2(x)));
    return {{"logits", out(x)}};
  }
  engine::LossDict loss(const engine::Batch& batch, const engine::Outputs& outputs) override {
    return {{"ce", torch::nn::functional::cross_entropy(outputs.at("logits"), batch.labels)}};
  }

  torch::nn::Linear fc1;
  lowbit::layers::QLinear fc2;
  torch::nn::BatchNorm1d norm;
  torch::nn::Linear out;
};

// A loss term: the mean squared logit, (1/BC) Σ z², which keeps logits small (no teacher needed).
class LogitPenalty : public engine::LossTerm {
 public:
  torch::Tensor forward(const engine::TermInputs& in) override { return in.student.at("logits").pow(2).mean(); }
  bool reads_teacher() const override { return false; }
};
LOWBIT_REGISTER_LOSS_TERM(logit_penalty, [](lowbit::ParamReader&) { return std::make_shared<LogitPenalty>(); });

// A metric: the error rate in percent, 100 · (1 - top-1), counted on the device.
class ErrorRate : public engine::Metric {
 public:
  void reset() override {
    wrong_ = torch::Tensor();
    samples_ = 0;
  }
  void update(const engine::Batch& batch, const engine::Outputs& outputs) override {
    const auto wrong = outputs.at("logits").argmax(1).ne(batch.labels).sum();
    wrong_ = wrong_.defined() ? wrong_ + wrong : wrong;
    samples_ += batch.size();
  }
  engine::MetricValues compute() override {
    return {{"error", 100.0 * static_cast<double>(wrong_.item<int64_t>()) / static_cast<double>(samples_)}};
  }

 private:
  torch::Tensor wrong_;
  int64_t samples_ = 0;
};
LOWBIT_REGISTER_METRIC(error_rate, [](lowbit::ParamReader&) { return std::make_unique<ErrorRate>(); });

// A hook of the user's: counts the steps it saw.
struct StepCounter : engine::Hook {
  void after_step(engine::TrainState&, const engine::Batch&, const engine::StepOutput& step) override {
    ++steps;
    parts = step.losses.names();
  }
  int64_t steps = 0;
  std::vector<std::string> parts;
};

std::vector<nlohmann::json> records(const std::string& run_dir, const std::string& kind) {
  std::vector<nlohmann::json> out;
  std::istringstream log(lowbit::util::read_file(lowbit::util::join_path(run_dir, "metrics.jsonl")));
  for (std::string line; std::getline(log, line);) {
    auto record = nlohmann::json::parse(line);
    if (record["kind"] == kind) out.push_back(record);
  }
  return out;
}

}  // namespace

TEST(ExtendEngine, TrainsAUserModuleWithAUserLossTermAndMetric) {
  if (!lowbit::util::file_exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")) {
    GTEST_SKIP() << "Fashion-MNIST (Debian dataset-fashion-mnist) is absent";
  }
  at::set_num_threads(1);  // ctest runs test processes side by side
  lowbit::testing::TempDir dir;

  engine::StageOptions stage;
  stage.name = "mlp";
  stage.epochs = 2;
  stage.optimizer.name = "adam";
  stage.optimizer.lr = 0.003;
  stage.schedule.name = "cosine";

  engine::DataSpec data;
  data.dataset = "fashion_mnist";
  data.batch_size = 100;
  data.limit_train = 2000;
  data.limit_test = 500;

  auto counter = std::make_shared<StepCounter>();
  engine::RunnerOptions o;
  o.stages = {stage};
  o.model = [](size_t, bool) { return std::make_shared<BinaryMlp>(); };
  o.task = [] {
    auto task = std::make_shared<engine::ClassificationTask>();
    task->set_distiller(std::make_shared<engine::Distiller>(
        std::vector<engine::DistillTermOptions>{engine::DistillTermOptions("ce"),
                                                engine::DistillTermOptions("logit_penalty").weight(0.01)}));
    return task;
  };
  o.data = engine::make_dataset(data);
  o.eval_metrics = {{"error_rate", {}}, {"loss", {}}};
  o.seed = 3;
  o.log_every = 5;
  o.run_dir = dir.path();
  std::ostringstream out;
  o.out = &out;
  o.hooks = {counter};
  const auto result = engine::Runner(o).run();

  EXPECT_EQ(result.steps, 40);  // 2 epochs of 20 batches
  EXPECT_EQ(counter->steps, 40);
  EXPECT_EQ(counter->parts, (std::vector<std::string>{"ce", "logit_penalty"}));
  EXPECT_NE(dynamic_cast<BinaryMlp*>(result.model.get()), nullptr);
  // The user's metric evaluates: chance is 90 % error.
  EXPECT_EQ(result.final_eval.samples, 500);
  const double error = result.final_eval.value("error");
  EXPECT_LT(error, 35.0);
  EXPECT_GT(error, 0.0);
  EXPECT_NE(out.str().find("mlp epoch 2/2  test error "), std::string::npos) << out.str();

  const auto train = records(dir.path(), "train");
  ASSERT_EQ(train.size(), 8u);
  for (const auto& r : train) {
    ASSERT_TRUE(r.contains("loss_ce") && r.contains("loss_logit_penalty")) << r;
    EXPECT_GT(r["loss_logit_penalty"].get<double>(), 0.0) << r;
    EXPECT_NEAR(r["loss"].get<double>(), r["loss_ce"].get<double>() + r["loss_logit_penalty"].get<double>(), 1e-5) << r;
  }
  EXPECT_LT(train.back()["loss"].get<double>(), 0.7 * train.front()["loss"].get<double>());
  const auto eval = records(dir.path(), "eval");
  ASSERT_EQ(eval.size(), 2u);
  EXPECT_EQ(eval.back()["error"].get<double>(), error);
  std::cout << "user MLP: train loss " << train.front()["loss"] << " -> " << train.back()["loss"] << ", test error "
            << error << " %, test loss " << result.final_eval.value("loss") << " (" << result.seconds << " s)\n";
}
