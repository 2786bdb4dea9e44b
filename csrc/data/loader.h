#pragma once
// Batches of decoded, augmented ImageFolder samples, built by worker threads ahead of the consumer
// through OrderedBatches (ordered_batches.h: the batch order, the sample seeds Rng(mix_seed(seed,
// epoch, sample index)), the bounded window of workers * prefetch batches, resuming mid-epoch).
// The output depends on (seed, epoch) only, not on the number of workers or thread scheduling.
//
// Each worker builds whole batches (decode, transform, copy into the batch).
// Files that cannot be read or decoded: by default the error (naming the file) is rethrown by the
// next() that would return its batch; that batch is lost and the epoch goes on with the next one.
// With skip_corrupt the sample is left out of its batch (which is then smaller; a batch left empty
// is not returned) and counted, see skipped_corrupt(). Errors of the transform are always raised.

#include <lowbit/csrc/data/image_folder.h>
#include <lowbit/csrc/data/ordered_batches.h>
#include <lowbit/csrc/data/rng.h>

#include <ATen/core/Tensor.h>
#include <torch/arg.h>

#include <functional>
#include <optional>

namespace lowbit::data {

struct Batch {
  at::Tensor images;       // float [B, 3, S, S]
  at::Tensor labels;       // int64 [B]
  at::Tensor soft_labels;  // float [B, classes] when a batch transform mixes labels (mixup.h); else undefined
};

// A decoded uint8 image [3, H, W] in, a float [3, S, S] out; randomness only from `rng`.
// train_pipeline and eval_pipeline (imagenet_pipelines.h) fit.
using SampleTransform = std::function<at::Tensor(const at::Tensor& image, Rng& rng)>;

// A built batch changed as a whole (mixup), after every sample's transform; randomness only from
// `rng` (BatchRequest::batch_rng: the batch's number, not the worker or the process's share).
using BatchTransform = std::function<void(Batch& batch, Rng& rng)>;

struct LoaderOptions {
  explicit LoaderOptions(SampleTransform transform) : transform_(std::move(transform)) {}
  TORCH_ARG(SampleTransform, transform);
  TORCH_ARG(BatchTransform, batch_transform) = nullptr;  // none by default
  TORCH_ARG(int64_t, batch_size) = 256;
  TORCH_ARG(bool, shuffle) = true;
  TORCH_ARG(uint64_t, seed) = 0;
  TORCH_ARG(int64_t, workers) = 4;
  // Batches each worker may have built or be building ahead of the consumer (PyTorch's prefetch_factor).
  TORCH_ARG(int64_t, prefetch) = 2;
  TORCH_ARG(bool, drop_last) = false;
  TORCH_ARG(int64_t, repeats) = 1;  // repeated augmentation (BatchingOptions::repeats)
  TORCH_ARG(bool, skip_corrupt) = false;
  // decode_jpeg's min_size: 0 decodes at full size; 256 before Resize(256) decodes images whose
  // shorter side is >= 512 at 1/2 scale or less (faster; after the resize nearly identical).
  TORCH_ARG(int64_t, decode_min_size) = 0;
};

// One consumer thread calls start_epoch() and next(); the loader is not otherwise thread-safe.
class ImageFolderLoader {
 public:
  // Destroying the loader stops its workers, also in the middle of an epoch: each finishes at most
  // the sample it is on.
  ImageFolderLoader(std::vector<ImageSample> samples, LoaderOptions options);

  // Begins epoch `epoch` at batch `first` (a resumed run), dropping whatever is left of the
  // previous one.
  void start_epoch(int64_t epoch, int64_t first = 0, Shard shard = {}) { batches_.start_epoch(epoch, first, shard); }
  // The epoch's next batch, or nullopt after its last.
  std::optional<Batch> next();

  int64_t batches_per_epoch() const { return batches_.batches_per_epoch(); }
  // Samples skipped as corrupt (skip_corrupt) in the batches of this epoch returned so far, and
  // their errors, each naming the file, in batch order. For a log line "skipped N corrupt files".
  int64_t skipped_corrupt() const { return static_cast<int64_t>(skipped_errors().size()); }
  const std::vector<std::string>& skipped_errors() const { return batches_.skipped(); }

 private:
  BuiltBatch build(const BatchRequest& request) const;

  const std::vector<ImageSample> samples_;
  const LoaderOptions options_;
  OrderedBatches batches_;  // last: its workers read the members above
};

}  // namespace lowbit::data
