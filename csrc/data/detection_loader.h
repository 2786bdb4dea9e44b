#pragma once
// Batches of a DetectionSet (coco.h, voc.h), decoded, transformed and collated by worker threads
// through OrderedBatches (ordered_batches.h: batch order and sample seeds from (seed, epoch) alone,
// the bounded window, resuming mid-epoch). Per sample i of a batch:
//   decode_jpeg(path) -> detection_sample -> transform(sample, Rng(mix_seed(seed, epoch, i)))
//   -> detection_target;  then collate_detection (detection_batch.h).
// A file that cannot be decoded, or whose decoded size differs from the size its annotation file
// states (the annotations would not fit it), is an error naming the file, raised by the next()
// of its batch; with skip_corrupt the sample is left out and counted instead. Transform errors are
// always raised, naming the file.

#include <lowbit/csrc/data/detection_batch.h>
#include <lowbit/csrc/data/detection_set.h>
#include <lowbit/csrc/data/detection_transforms.h>
#include <lowbit/csrc/data/ordered_batches.h>

#include <torch/arg.h>

#include <functional>
#include <optional>

namespace lowbit::data {

// A decoded sample (uint8 image, boxes (x1, y1, x2, y2) in its pixels) in, the sample to train or
// evaluate on out (float image, boxes in its pixels); randomness only from `rng`.
// detr_train_transform and detr_eval_transform (detection_transforms.h) fit.
using DetectionTransform = std::function<DetectionSample(DetectionSample sample, Rng& rng)>;

struct DetectionLoaderOptions {
  explicit DetectionLoaderOptions(DetectionTransform transform) : transform_(std::move(transform)) {}
  TORCH_ARG(DetectionTransform, transform);
  TORCH_ARG(BatchingOptions, batching);
  TORCH_ARG(bool, skip_corrupt) = false;
  TORCH_ARG(int64_t, size_divisor) = 1;  // collate_detection's
};

// One consumer thread calls start_epoch() and next(); not otherwise thread-safe. Destroying the
// loader stops its workers, also in the middle of an epoch.
class DetectionLoader {
 public:
  DetectionLoader(DetectionSet set, DetectionLoaderOptions options);

  // Begins epoch `epoch` at batch `first` (a resumed run).
  void start_epoch(int64_t epoch, int64_t first = 0, Shard shard = {}) { batches_.start_epoch(epoch, first, shard); }
  // The epoch's next batch, or nullopt after its last.
  std::optional<DetectionBatch> next();

  const DetectionSet& set() const { return set_; }
  int64_t batches_per_epoch() const { return batches_.batches_per_epoch(); }
  // Samples skipped (skip_corrupt) in the batches of this epoch returned so far, with their errors.
  int64_t skipped_corrupt() const { return static_cast<int64_t>(skipped_errors().size()); }
  const std::vector<std::string>& skipped_errors() const { return batches_.skipped(); }

 private:
  BuiltBatch build(const BatchRequest& request) const;

  const DetectionSet set_;
  const DetectionLoaderOptions options_;
  OrderedBatches batches_;  // last: its workers read the members above
};

}  // namespace lowbit::data
