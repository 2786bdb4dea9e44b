// Extending lowbit, example: a data set of your own, registered by name so that a recipe's
// `data: {dataset: stripes, ...}` opens it (docs/extending.md). Here a synthetic one: 1 x 8 x 8
// images with a bright horizontal stripe in the top half (class 0) or the bottom half (class 1),
// plus Gaussian noise; every sample is a function of (seed, split, index), batches of an epoch
// come in an order fixed by (seed, epoch).
#include <lowbit/csrc/engine/datasets/dataset.h>
#include <lowbit/csrc/engine/recipe/recipe.h>
#include <lowbit/csrc/engine/recipe/recipe_error.h>
#include <lowbit/csrc/engine/train.h>
#include <lowbit/csrc/util/files.h>

#include "support/temp_dir.h"

#include <gtest/gtest.h>

#include <torch/torch.h>

#include <sstream>

namespace {

namespace engine = lowbit::engine;

class StripesSource : public engine::DataSource {
 public:
  StripesSource(torch::Tensor images, torch::Tensor labels, int64_t batch_size, bool shuffle, uint64_t seed)
      : images_(std::move(images)), labels_(std::move(labels)), batch_size_(batch_size), shuffle_(shuffle), seed_(seed) {}
  int64_t num_samples() const override { return labels_.size(0); }
  int64_t batches_per_epoch() const override { return (num_samples() + batch_size_ - 1) / batch_size_; }

  std::unique_ptr<engine::EpochReader> epoch(int64_t epoch, int64_t first) override {
    auto generator = at::detail::createCPUGenerator(seed_ * 7919 + static_cast<uint64_t>(epoch));
    auto order = shuffle_ ? torch::randperm(num_samples(), generator) : torch::arange(num_samples());
    return std::make_unique<Reader>(*this, order, first);
  }

 private:
  struct Reader : engine::EpochReader {
    Reader(const StripesSource& source, torch::Tensor order, int64_t next)
        : source(source), order(std::move(order)), next_batch(next) {}
    bool next(engine::Batch& batch) override {
      if (next_batch >= source.batches_per_epoch()) return false;
      const auto ids = order.slice(0, next_batch * source.batch_size_, (next_batch + 1) * source.batch_size_);
      ++next_batch;
      batch = engine::Batch();
      batch.images = source.images_.index_select(0, ids);
      batch.labels = source.labels_.index_select(0, ids);
      return true;
    }
    const StripesSource& source;
    torch::Tensor order;
    int64_t next_batch;
  };

  torch::Tensor images_, labels_;
  int64_t batch_size_;
  bool shuffle_;
  uint64_t seed_;
};

class Stripes : public engine::DataSet {
 public:
  Stripes(engine::DataSpec spec, int64_t samples, double noise) : spec_(std::move(spec)), samples_(samples), noise_(noise) {}

  std::unique_ptr<engine::DataSource> open(lowbit::data::Split split) const override {
    const bool train = split == lowbit::data::Split::Train;
    auto generator = at::detail::createCPUGenerator(spec_.seed * 2 + (train ? 0 : 1));
    const int64_t limit = train ? spec_.limit_train : spec_.limit_test;
    const int64_t n = limit > 0 ? std::min(limit, samples_) : samples_;
    const auto labels = torch::randint(0, 2, {n}, generator, torch::kLong);
    const auto rows = torch::randint(0, 4, {n}, generator, torch::kLong) + 4 * labels;  // the stripe's row
    auto images = torch::randn({n, 1, 8, 8}, generator) * noise_;
    images.index_put_({torch::arange(n), 0, rows}, images.index({torch::arange(n), 0, rows}) + 1.0);
    return std::make_unique<StripesSource>(images, labels, train ? spec_.batch_size : spec_.eval_batch_size, train,
                                           spec_.seed);
  }

  engine::Batch example(int64_t count) const override {
    engine::Batch batch;
    batch.images = torch::zeros({count, 1, 8, 8});
    batch.labels = torch::zeros({count}, torch::kLong);
    return batch;
  }

 private:
  engine::DataSpec spec_;
  int64_t samples_;
  double noise_;
};

// Options: samples (per split, 1024), noise (std of the added noise, 0.5).
LOWBIT_REGISTER_DATASET(stripes, [](lowbit::ParamReader& options, const engine::DataSpec& spec) {
  const auto samples = options.get<int64_t>("samples", 1024);
  options.check(samples > 0, "samples", "expected a positive number of samples, got " + std::to_string(samples));
  const auto noise = options.get<double>("noise", 0.5);
  options.check(noise >= 0, "noise", "expected a non-negative standard deviation");
  return std::make_unique<Stripes>(spec, samples, noise);
});

const char* kRecipe =
    "name: stripes\nseed: 4\n"
    "data: {dataset: stripes, samples: 1024, noise: 0.5, batch_size: 64, eval_batch_size: 256}\n"
    "model: {name: small_cnn, in_channels: 1, image_size: 8, classes: 2, channels: [8, 16],\n"
    "        weight_quantizer: {name: xnor}, input_quantizer: {name: sign, ste: approx}}\n"
    "stages: [{epochs: 3, optimizer: {name: adam, lr: 0.01}}]\n";

}  // namespace

TEST(ExtendDataSet, ARecipeTrainsOnIt) {
  at::set_num_threads(1);
  lowbit::testing::TempDir dir;
  dir.write("r.yaml", kRecipe);
  const auto recipe = engine::parse_recipe(dir.file("r.yaml"));
  engine::validate(recipe);
  std::ostringstream out;
  const auto result = engine::train(recipe, dir.path(), false, out);
  EXPECT_EQ(result.steps, 48);  // 3 epochs of 16 batches
  EXPECT_EQ(result.final_eval.samples, 1024);
  EXPECT_GT(result.final_eval.value("top1"), 90.0) << out.str();  // chance: 50 %
}

TEST(ExtendDataSet, ItsOptionErrorsPointAtTheirKey) {
  lowbit::testing::TempDir dir;
  const std::string recipe(kRecipe);
  for (const auto& [from, to, key] : {std::tuple{"samples: 1024", "samples: 0", "data.samples"},
                                      std::tuple{"noise: 0.5", "nois: 0.5", "data.nois"}}) {
    auto text = recipe;
    text.replace(text.find(from), std::string(from).size(), to);
    dir.write("bad.yaml", text);
    try {
      engine::parse_recipe(dir.file("bad.yaml"));
      ADD_FAILURE() << to << " was accepted";
    } catch (const engine::RecipeError& e) {
      EXPECT_EQ(e.key(), key) << e.what();
      EXPECT_NE(std::string(e.what()).find("bad.yaml:3: " + std::string(key) + ": "), std::string::npos) << e.what();
    }
  }
}
