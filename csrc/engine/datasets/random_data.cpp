#include <lowbit/csrc/engine/datasets/random_data.h>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <vector>

namespace lowbit::engine {
namespace {

// The example's images, padding mask, unpadded sizes and original sizes at side `side`.
void resize_example(Batch& batch, int64_t side) {
  const auto b = batch.images.size(0), channels = batch.images.size(1);
  batch.images = at::zeros({b, channels, side, side});
  if (batch.meta.count("mask")) batch.meta["mask"] = at::zeros({b, side, side}, at::kBool);
  if (batch.meta.count("image_sizes")) batch.meta["image_sizes"] = at::full({b, 2}, static_cast<double>(side), at::kFloat);
  for (auto& target : batch.targets) target["orig_size"] = at::tensor({side, side}, at::kLong);
}

// 1 to 3 boxes in an image of `height` x `width` pixels, labels in [0, categories).
TensorMap random_target(const TensorMap& example, int64_t categories, int64_t height, int64_t width, at::Generator& gen) {
  const auto count = at::randint(1, 4, {1}, gen, at::kLong).item<int64_t>();
  const auto centre = at::rand({count, 2}, gen) * 0.5 + 0.25, size = at::rand({count, 2}, gen) * 0.4 + 0.1;
  const auto labels = at::randint(categories, {count}, gen, at::kLong);
  const auto pixels = at::tensor({static_cast<float>(width), static_cast<float>(height)});
  const auto corner = (centre - size / 2) * pixels, extent = size * pixels;  // (x, y), (w, h) in pixels
  auto target = example;
  target["boxes"] = at::cat({centre, size}, 1);
  target["labels"] = labels;
  target["orig_size"] = at::tensor({height, width}, at::kLong);
  target["gt_boxes"] = at::cat({corner, extent}, 1);
  target["gt_labels"] = labels.clone();
  target["gt_area"] = extent.prod(1);
  target["gt_iscrowd"] = at::zeros({count}, at::kBool);
  return target;
}

Batch random_batch(const DataSet& shape, const RandomDataOptions& o, at::Generator& gen) {
  auto batch = shape.example(o.batch_size());
  if (o.image_size() > 0) resize_example(batch, o.image_size());
  batch.images = at::randn(batch.images.sizes(), gen);
  if (batch.labels.defined() && o.classes() > 0) batch.labels = at::randint(o.classes(), batch.labels.sizes(), gen, at::kLong);
  if (batch.targets.empty()) return batch;
  const auto categories = batch.meta.count("category_ids") ? batch.meta.at("category_ids").size(0) : 1;
  for (auto& target : batch.targets) {
    target = random_target(target, categories, batch.images.size(2), batch.images.size(3), gen);
  }
  return batch;
}

class RandomReader : public EpochReader {
 public:
  RandomReader(const std::vector<Batch>& batches, size_t next) : batches_(batches), next_(next) {}
  bool next(Batch& batch) override {
    if (next_ >= batches_.size()) return false;
    batch = batches_[next_++];
    return true;
  }

 private:
  const std::vector<Batch>& batches_;
  size_t next_;
};

class RandomSource : public DataSource {
 public:
  explicit RandomSource(std::vector<Batch> batches) : batches_(std::move(batches)) {}
  int64_t num_samples() const override { return batches_per_epoch() * batches_.front().size(); }
  int64_t batches_per_epoch() const override { return static_cast<int64_t>(batches_.size()); }
  std::unique_ptr<EpochReader> epoch(int64_t, int64_t first) override {
    return std::make_unique<RandomReader>(batches_, static_cast<size_t>(first));
  }

 private:
  std::vector<Batch> batches_;
};

class RandomDataSet : public DataSet {
 public:
  RandomDataSet(std::shared_ptr<const DataSet> shape, RandomDataOptions options)
      : shape_(std::move(shape)), options_(options) {}

  std::unique_ptr<DataSource> open(data::Split split) const override {
    const bool train = split == data::Split::Train;
    auto gen = at::make_generator<at::CPUGeneratorImpl>(options_.seed() + (train ? 0 : 1));
    std::vector<Batch> batches;
    for (int64_t i = 0; i < (train ? options_.train_batches() : 1); ++i) batches.push_back(random_batch(*shape_, options_, gen));
    return std::make_unique<RandomSource>(std::move(batches));
  }

  Batch example(int64_t count) const override {
    auto batch = shape_->example(count);
    if (options_.image_size() > 0) resize_example(batch, options_.image_size());
    return batch;
  }

 private:
  std::shared_ptr<const DataSet> shape_;
  RandomDataOptions options_;
};

}  // namespace

std::shared_ptr<DataSet> random_data(std::shared_ptr<const DataSet> shape, RandomDataOptions options) {
  TORCH_CHECK_VALUE(options.batch_size() > 0 && options.train_batches() > 0, "random data: batch_size and train_batches must be positive");
  return std::make_shared<RandomDataSet>(std::move(shape), options);
}

}  // namespace lowbit::engine
