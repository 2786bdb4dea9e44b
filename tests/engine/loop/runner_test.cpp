// The Runner's contract with hooks: the order of the hook points, checkpoint extras that hooks
// add coming back on resume, and the train records' cadence; on a small synthetic data set.
#include <lowbit/csrc/engine/checkpoint/checkpoint.h>
#include <lowbit/csrc/engine/loop/runner.h>
#include <lowbit/csrc/engine/task/classification.h>
#include <lowbit/csrc/engine/task/classifier.h>
#include <lowbit/csrc/util/files.h>

#include "support/temp_dir.h"

#include <gtest/gtest.h>

#include <torch/torch.h>

#include <sstream>

namespace {

namespace engine = lowbit::engine;

// 12 samples of 4 features, 2 classes, in batches of 4 (3 per epoch), in a fixed order.
class Tiny : public engine::DataSet {
 public:
  std::unique_ptr<engine::DataSource> open(lowbit::data::Split) const override { return std::make_unique<Source>(); }
  engine::Batch example(int64_t count) const override { return {torch::zeros({count, 4}), torch::zeros({count}, torch::kLong)}; }

 private:
  struct Source : engine::DataSource {
    int64_t num_samples() const override { return 12; }
    int64_t batches_per_epoch() const override { return 3; }
    std::unique_ptr<engine::EpochReader> epoch(int64_t, int64_t first) override { return std::make_unique<Reader>(first); }
  };
  struct Reader : engine::EpochReader {
    explicit Reader(int64_t next) : next_batch(next) {}
    bool next(engine::Batch& batch) override {
      if (next_batch >= 3) return false;
      const auto x = torch::arange(16, torch::kFloat).view({4, 4}).add(next_batch) / 16;
      batch = {x, torch::tensor({0, 1, 0, 1}) ^ (next_batch++ % 2)};
      return true;
    }
    int64_t next_batch;
  };
};

// Records the hook points it sees; keeps a counter in the checkpoint's extras.
struct Recorder : engine::Hook {
  void before_epoch(engine::TrainState& s) override { log("before_epoch " + std::to_string(s.position.epoch)); }
  void before_step(engine::TrainState& s) override { log("before_step " + std::to_string(s.position.batch)); }
  void after_step(engine::TrainState& s, const engine::Batch&, const engine::StepOutput&) override {
    ++steps;
    log("after_step " + std::to_string(s.position.batch));
  }
  void after_train_epoch(engine::TrainState&) override { log("after_train_epoch"); }
  void after_eval(engine::TrainState&, const engine::MetricValues& values, int64_t samples) override {
    log("after_eval " + values.front().first + " " + std::to_string(samples));
  }
  void after_epoch(engine::TrainState&) override { log("after_epoch"); }
  void before_save(engine::TrainState&, engine::Extras& extras) override {
    log("before_save");
    extras["recorder_steps"] = torch::tensor({steps});
  }
  void after_load(engine::TrainState&, const engine::Extras& extras) override {
    log("after_load");
    steps = extras.at("recorder_steps").item<int64_t>();
  }
  void log(const std::string& event) { events.push_back(event); }
  std::vector<std::string> events;
  int64_t steps = 0;
};

engine::RunnerOptions options(const std::string& dir, int64_t epochs, std::shared_ptr<Recorder> recorder, std::ostream& out) {
  engine::StageOptions stage;
  stage.epochs = epochs;
  stage.optimizer.name = "sgd";
  stage.optimizer.lr = 0.1;
  engine::RunnerOptions o;
  o.stages = {stage};
  o.model = [](size_t, bool) { return std::make_shared<engine::Classifier>(torch::nn::Linear(4, 2)); };
  o.task = [] { return std::make_shared<engine::ClassificationTask>(); };
  o.data = std::make_shared<Tiny>();
  o.log_every = 2;
  o.checkpoint_every = 2;
  o.run_dir = dir;
  o.out = &out;
  o.hooks = {recorder};
  return o;
}

}  // namespace

TEST(Runner, CallsHooksInTheDocumentedOrder) {
  lowbit::testing::TempDir dir;
  auto recorder = std::make_shared<Recorder>();
  std::ostringstream out;
  const auto result = engine::Runner(options(dir.path(), 1, recorder, out)).run();
  EXPECT_EQ(result.steps, 3);
  const std::vector<std::string> expected{
      "before_epoch 0", "before_step 0", "after_step 1",          "before_step 1", "after_step 2",
      "before_save",    "before_step 2", "after_step 3",          "after_train_epoch", "after_eval loss 12",
      "after_epoch",    "before_save"};
  EXPECT_EQ(recorder->events, expected);
  // Train records every 2 steps and at the epoch's end, each with the step it was written at.
  std::istringstream log(lowbit::util::read_file(lowbit::util::join_path(dir.path(), "metrics.jsonl")));
  std::vector<std::string> steps;
  for (std::string line; std::getline(log, line);) {
    if (line.find("\"kind\":\"train\"") != std::string::npos) steps.push_back(line.substr(line.find("\"step\":"), 8));
  }
  EXPECT_EQ(steps, (std::vector<std::string>{"\"step\":2", "\"step\":3"}));
}

TEST(Runner, HookExtrasComeBackOnResume) {
  lowbit::testing::TempDir dir;
  std::ostringstream out;
  auto first = std::make_shared<Recorder>();
  engine::Runner(options(dir.path(), 1, first, out)).run();
  auto second = std::make_shared<Recorder>();
  auto resumed = options(dir.path(), 2, second, out);
  resumed.resume = true;
  const auto result = engine::Runner(resumed).run();
  EXPECT_EQ(result.steps, 6);
  ASSERT_FALSE(second->events.empty());
  EXPECT_EQ(second->events.front(), "after_load");
  EXPECT_EQ(second->steps, 6);  // 3 restored from the checkpoint + 3 trained
  EXPECT_NE(out.str().find("resumed " + lowbit::util::join_path(dir.path(), "checkpoint.pt") + " at stage 1, epoch 2, batch 0"),
            std::string::npos)
      << out.str();
}

TEST(Runner, EvaluatesEveryEvalEveryEpochsAndAfterTheLast) {
  lowbit::testing::TempDir dir;
  auto recorder = std::make_shared<Recorder>();
  std::ostringstream out;
  auto o = options(dir.path(), 5, recorder, out);
  o.eval_every = 2;
  const auto result = engine::Runner(o).run();
  std::vector<int64_t> evaluated;  // epochs (1-based) followed by an evaluation
  int64_t epoch = 0;
  for (const auto& event : recorder->events) {
    if (event == "after_train_epoch") ++epoch;
    if (event.rfind("after_eval", 0) == 0) evaluated.push_back(epoch);
  }
  EXPECT_EQ(evaluated, (std::vector<int64_t>{2, 4, 5}));
  EXPECT_EQ(result.final_eval.samples, 12);
}
