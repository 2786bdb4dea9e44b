#pragma once
// Batches of decoded, augmented ImageFolder samples, built by worker threads ahead of the consumer.
//
// Determinism: epoch e visits the samples in an order fixed by (seed, e) alone (a Fisher-Yates
// shuffle, or the sample order without shuffle); batch k holds positions [k B, (k + 1) B) of it; the
// sample with index i is augmented with Rng(mix_seed(seed, e, i)). Batches come out in order k =
// 0, 1, ..., so the output depends on neither the number of workers nor thread scheduling.
//
// Each worker builds whole batches (decode, transform, copy into the batch); at most
// workers * prefetch batches are built or waiting ahead of the consumer. Within a worker LibTorch
// ops run single-threaded (the workers are the parallelism).
//
// Files that cannot be read or decoded: by default the error (naming the file) is rethrown by the
// next() that would return its batch; that batch is lost and the epoch goes on with the next one.
// With skip_corrupt the sample is left out of its batch (which is then smaller; a batch left empty
// is not returned) and counted, see skipped_corrupt(). Errors of the transform are always raised.

#include <lowbit/csrc/data/image_folder.h>
#include <lowbit/csrc/data/rng.h>

#include <ATen/core/Tensor.h>
#include <torch/arg.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

namespace lowbit::data {

struct Batch {
  at::Tensor images;  // float [B, 3, S, S]
  at::Tensor labels;  // int64 [B]
};

// A decoded uint8 image [3, H, W] in, a float [3, S, S] out; randomness only from `rng`.
// imagenet_train_transform and imagenet_eval_transform (transforms.h) fit.
using SampleTransform = std::function<at::Tensor(const at::Tensor& image, Rng& rng)>;

struct LoaderOptions {
  explicit LoaderOptions(SampleTransform transform) : transform_(std::move(transform)) {}
  TORCH_ARG(SampleTransform, transform);
  TORCH_ARG(int64_t, batch_size) = 256;
  TORCH_ARG(bool, shuffle) = true;
  TORCH_ARG(uint64_t, seed) = 0;
  TORCH_ARG(int64_t, workers) = 4;
  // Batches each worker may have built or be building ahead of the consumer (PyTorch's prefetch_factor).
  TORCH_ARG(int64_t, prefetch) = 2;
  TORCH_ARG(bool, drop_last) = false;
  TORCH_ARG(bool, skip_corrupt) = false;
  // decode_jpeg's min_size: 0 decodes at full size; 256 before Resize(256) decodes images whose
  // shorter side is >= 512 at 1/2 scale or less (faster; after the resize nearly identical).
  TORCH_ARG(int64_t, decode_min_size) = 0;
};

// One consumer thread calls start_epoch() and next(); the loader is not otherwise thread-safe.
class ImageFolderLoader {
 public:
  ImageFolderLoader(std::vector<ImageSample> samples, LoaderOptions options);
  // Stops the workers, also in the middle of an epoch: each finishes at most the sample it is on.
  ~ImageFolderLoader();
  ImageFolderLoader(const ImageFolderLoader&) = delete;
  ImageFolderLoader& operator=(const ImageFolderLoader&) = delete;

  // Begins epoch `epoch` at batch `first` (a resumed run), dropping whatever is left of the
  // previous one.
  void start_epoch(int64_t epoch, int64_t first = 0);
  // The epoch's next batch, or nullopt after its last.
  std::optional<Batch> next();

  int64_t batches_per_epoch() const;
  // Samples skipped as corrupt (skip_corrupt) in the batches of this epoch returned so far, and
  // their errors, each naming the file, in batch order. For a log line "skipped N corrupt files".
  int64_t skipped_corrupt() const { return static_cast<int64_t>(skipped_errors_.size()); }
  const std::vector<std::string>& skipped_errors() const { return skipped_errors_; }

 private:
  struct Built {
    std::optional<Batch> batch;  // empty when every sample was skipped
    std::vector<std::string> skipped;
    std::exception_ptr error;
  };

  void work();
  Built build(int64_t batch_index, const std::vector<int64_t>& order, int64_t epoch, uint64_t generation) const;

  const std::vector<ImageSample> samples_;
  const LoaderOptions options_;
  std::vector<std::string> skipped_errors_;  // consumer thread only

  mutable std::mutex mutex_;
  std::condition_variable work_ready_;   // workers: a batch may be claimed, or stop
  std::condition_variable batch_ready_;  // consumer: a built batch arrived
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> generation_{0};  // bumped by start_epoch; older work is dropped
  // Guarded by mutex_:
  bool started_ = false;
  int64_t epoch_ = 0;
  std::shared_ptr<const std::vector<int64_t>> order_;
  int64_t next_to_claim_ = 0;
  int64_t next_to_return_ = 0;
  std::map<int64_t, Built> built_;
  std::vector<std::thread> workers_;  // last: started once everything above exists
};

}  // namespace lowbit::data
