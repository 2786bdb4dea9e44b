#pragma once
// The trainer's view of a data split: epochs of batches in an order fixed by (seed, epoch) alone,
// so that a run resumed mid-epoch sees exactly the batches the interrupted one would have.

#include <lowbit/csrc/data/image_set.h>
#include <lowbit/csrc/engine/recipe.h>

#include <ATen/core/Tensor.h>

#include <memory>

namespace lowbit::engine {

struct Batch {
  at::Tensor images;  // float, normalised
  at::Tensor labels;  // int64
};

class EpochReader {
 public:
  virtual ~EpochReader() = default;
  // The next batch; false at the end of the epoch.
  virtual bool next(Batch& batch) = 0;
};

class DataSource {
 public:
  virtual ~DataSource() = default;
  virtual int64_t num_samples() const = 0;
  virtual int64_t num_classes() const = 0;
  virtual int64_t batches_per_epoch() const = 0;
  // The batches of `epoch` from batch number `first` on.
  virtual std::unique_ptr<EpochReader> epoch(int64_t epoch, int64_t first) = 0;
};

// `count` zero images of the shape the recipe's data set delivers ([count, C, H, W]), for
// summaries and dry runs.
at::Tensor example_images(const Recipe& recipe, int64_t count);

// Opens a split of the recipe's data set: training batches shuffled (and augmented for CIFAR:
// 4-pixel padded random crop and horizontal flip), test batches in file order. Throws
// RecipeError naming the data key and the file when the data cannot be read.
std::unique_ptr<DataSource> open_data(const Recipe& recipe, data::Split split);

}  // namespace lowbit::engine
