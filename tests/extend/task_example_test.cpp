// Extending lowbit, example: a task of your own, registered by name so that a recipe's
// `task: brightness` trains with it (docs/extending.md). A regression task: the batch carries a
// real target per image (meta "target"), the network (built by name, here small_cnn with one
// output) predicts it, its loss is the mean squared error, and evaluation reports the mean
// absolute error with a metric of the task's own. The data set is the task's too: 1 x 8 x 8
// noise images whose mean brightness is the target.
#include <lowbit/csrc/engine/datasets/dataset.h>
#include <lowbit/csrc/engine/recipe/recipe.h>
#include <lowbit/csrc/engine/task/task.h>
#include <lowbit/csrc/engine/train.h>
#include <lowbit/modules/models/registry.h>

#include "support/temp_dir.h"

#include <gtest/gtest.h>

#include <torch/torch.h>

#include <sstream>

namespace {

namespace engine = lowbit::engine;

// A network with one output as a regression Model: {"prediction": [B]}, loss {"mse": ...}.
class Regressor : public engine::Model {
 public:
  explicit Regressor(torch::nn::Sequential network) : network_(register_module("network", std::move(network))) {}
  engine::Outputs forward(const engine::Batch& batch) override {
    return {{"prediction", network_->forward(batch.images).squeeze(1)}};
  }
  engine::LossDict loss(const engine::Batch& batch, const engine::Outputs& outputs) override {
    return {{"mse", torch::mse_loss(outputs.at("prediction"), batch.meta.at("target"))}};
  }

 private:
  torch::nn::Sequential network_;
};

// Mean absolute error of "prediction" against meta "target".
class MeanAbsoluteError : public engine::Metric {
 public:
  void reset() override {
    sum_ = torch::Tensor();
    samples_ = 0;
  }
  void update(const engine::Batch& batch, const engine::Outputs& outputs) override {
    const auto error = (outputs.at("prediction") - batch.meta.at("target")).abs().sum();
    sum_ = sum_.defined() ? sum_ + error : error;
    samples_ += batch.size();
  }
  engine::MetricValues compute() override { return {{"mae", sum_.item<double>() / static_cast<double>(samples_)}}; }

 private:
  torch::Tensor sum_;
  int64_t samples_ = 0;
};
LOWBIT_REGISTER_METRIC(mae, [](lowbit::ParamReader&) { return std::make_unique<MeanAbsoluteError>(); });

class BrightnessTask : public engine::Task {
 public:
  std::shared_ptr<engine::Model> make_model(const std::string& name, const lowbit::Params& params,
                                            const lowbit::models::QuantPolicy& policy) const override {
    return std::make_shared<Regressor>(lowbit::models::make(name, params, policy));
  }
  std::vector<engine::MetricSpec> default_metrics() const override { return {{"mae", {}}}; }
  std::vector<engine::MetricSpec> train_metrics() const override { return {{"mae", {}}}; }
};
LOWBIT_REGISTER_TASK(brightness, [](const engine::TaskSettings&) { return std::make_shared<BrightnessTask>(); });

// Images 1 x 8 x 8 of N(target, 0.3) pixels, target ~ U(-1, 1); the whole split is one epoch of
// batches in a fixed order (enough for this example).
class BrightnessSource : public engine::DataSource {
 public:
  BrightnessSource(int64_t samples, int64_t batch_size, uint64_t seed) : batch_size_(batch_size) {
    auto generator = at::detail::createCPUGenerator(seed);
    target_ = torch::rand({samples}, generator) * 2 - 1;
    images_ = target_.view({samples, 1, 1, 1}) + 0.3 * torch::randn({samples, 1, 8, 8}, generator);
  }
  int64_t num_samples() const override { return target_.size(0); }
  int64_t batches_per_epoch() const override { return (num_samples() + batch_size_ - 1) / batch_size_; }
  std::unique_ptr<engine::EpochReader> epoch(int64_t, int64_t first) override {
    return std::make_unique<Reader>(*this, first);
  }

 private:
  struct Reader : engine::EpochReader {
    Reader(const BrightnessSource& source, int64_t next) : source(source), next_batch(next) {}
    bool next(engine::Batch& batch) override {
      if (next_batch >= source.batches_per_epoch()) return false;
      const auto from = next_batch++ * source.batch_size_;
      batch = engine::Batch();
      batch.images = source.images_.slice(0, from, from + source.batch_size_);
      batch.meta["target"] = source.target_.slice(0, from, from + source.batch_size_);
      return true;
    }
    const BrightnessSource& source;
    int64_t next_batch;
  };
  int64_t batch_size_;
  torch::Tensor images_, target_;
};

class Brightness : public engine::DataSet {
 public:
  explicit Brightness(engine::DataSpec spec) : spec_(std::move(spec)) {}
  std::unique_ptr<engine::DataSource> open(lowbit::data::Split split) const override {
    const bool train = split == lowbit::data::Split::Train;
    return std::make_unique<BrightnessSource>(train ? 1024 : 256, train ? spec_.batch_size : spec_.eval_batch_size,
                                              spec_.seed * 2 + (train ? 0 : 1));
  }
  engine::Batch example(int64_t count) const override {
    engine::Batch batch;
    batch.images = torch::zeros({count, 1, 8, 8});
    batch.meta["target"] = torch::zeros({count});
    return batch;
  }

 private:
  engine::DataSpec spec_;
};
LOWBIT_REGISTER_DATASET(brightness, [](lowbit::ParamReader&, const engine::DataSpec& spec) {
  return std::make_unique<Brightness>(spec);
});

}  // namespace

TEST(ExtendTask, ARecipeTrainsARegressionTask) {
  at::set_num_threads(1);
  lowbit::testing::TempDir dir;
  dir.write("r.yaml",
            "name: brightness\ntask: brightness\nseed: 1\n"
            "data: {dataset: brightness, batch_size: 64, eval_batch_size: 256}\n"
            "model: {name: small_cnn, image_size: 8, classes: 1, channels: [8], full_precision_ends: true}\n"
            "stages: [{epochs: 4, optimizer: {name: adam, lr: 0.01}}]\n");
  const auto recipe = engine::parse_recipe(dir.file("r.yaml"));
  engine::validate(recipe);
  std::ostringstream out;
  const auto result = engine::train(recipe, dir.path(), false, out);
  EXPECT_EQ(result.steps, 64);
  const double mae = result.final_eval.value("mae");
  EXPECT_LT(mae, 0.25) << out.str();  // predicting 0 always: 0.5
  EXPECT_NE(out.str().find("stage1 epoch 4/4  test mae "), std::string::npos) << out.str();
}
