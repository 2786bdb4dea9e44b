#pragma once
// The machinery of the threaded loaders (ImageFolderLoader, DetectionLoader): worker threads build
// whole batches ahead of the consumer, who gets them in order. What a batch is and how it is built
// is the loader's function; this class decides which samples go into which batch and when.
//
// Determinism: epoch e visits the samples in an order fixed by (seed, e) alone (a Fisher-Yates
// shuffle, or the sample order without shuffle; with `repeats` > 1 each sample of it `repeats` times
// in a row, repeated_augment.h); batch k holds positions [k B, (k + 1) B) of it, and its builder
// seeds sample i's augmentation with Rng(mix_seed(seed, e, i)) (copy c of it with repeats:
// mix_seed(seed, e, c N + i)) and whatever it does to the whole batch with batch_rng(), seeded from
// (seed, e, k). Batches come out in order k = 0, 1, ..., so the output depends on neither the
// number of workers nor thread scheduling.
//
// At most workers * prefetch batches are built or waiting ahead of the consumer. Within a worker
// LibTorch ops run single-threaded (the workers are the parallelism).
//
// A builder's exception is rethrown by the next() that would return its batch; that batch is lost
// and the epoch goes on with the next one. A builder may leave samples out (skip_corrupt) and say
// why in BuiltBatch::skipped; a batch left empty is not returned.

#include <lowbit/csrc/data/repeated_augment.h>
#include <lowbit/csrc/data/rng.h>

#include <torch/arg.h>

#include <any>
#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace lowbit::data {

struct BatchingOptions {
  TORCH_ARG(int64_t, batch_size) = 256;
  TORCH_ARG(bool, shuffle) = true;
  TORCH_ARG(uint64_t, seed) = 0;
  TORCH_ARG(int64_t, workers) = 4;
  // Batches each worker may have built or be building ahead of the consumer (PyTorch's prefetch_factor).
  TORCH_ARG(int64_t, prefetch) = 2;
  TORCH_ARG(bool, drop_last) = false;
  // Repeated augmentation (DeiT's RASampler, repeated_augment.h): each sample this many times per
  // epoch order, the epoch cut to floor(N / 256) * 256 positions; 1: off.
  TORCH_ARG(int64_t, repeats) = 1;
};

// One process's part of every batch in data-parallel training, so that the processes together see
// exactly the batches of a single process. Of a batch of n samples (positions p_0 .. p_{n-1} of the
// epoch order), process `rank` of `count` takes
//   equal (training):   positions [rank m, (rank + 1) m), m = floor(n / count): equal shares, so
//                       that averaging the processes' gradients gives the whole share's mean; the
//                       n mod count last samples of a batch (only ever the epoch's last) are left out
//   otherwise (eval):   positions [floor(rank n / count), floor((rank + 1) n / count)): every sample
//                       exactly once
// A share left empty is not returned (with equal shares: by every process alike).
struct Shard {
  int64_t rank = 0;
  int64_t count = 1;
  bool equal = false;

  int64_t begin(int64_t n) const { return equal ? rank * (n / count) : rank * n / count; }
  int64_t end(int64_t n) const { return equal ? (rank + 1) * (n / count) : (rank + 1) * n / count; }
  bool whole() const { return count == 1; }
};

// What a builder is asked for: the samples of one batch (this process's part of it), in epoch order.
struct BatchRequest {
  int64_t epoch;
  uint64_t seed;
  int64_t index;                 // the batch's number in the epoch
  std::vector<int64_t> samples;  // sample indices
  std::vector<uint64_t> streams;  // samples[k]'s augmentation stream: its index, + copy * N with repeats
  // True once nobody will read the batch (the loader stops, or a new epoch began): a builder
  // checks it between samples and may return whatever it has.
  std::function<bool()> abandoned;

  // The generator of samples[k]'s augmentation: Rng(mix_seed(seed, epoch, streams[k])).
  Rng augmentation_rng(size_t k) const;
  // The generator of what is done to the whole batch (mixup), the same in every process's part:
  // Rng(mix_seed(mix_seed(seed, epoch, 2^64 - 2), index, 0)).
  Rng batch_rng() const;
};

struct BuiltBatch {
  std::any batch;                    // the loader's batch type; empty when every sample was left out
  std::vector<std::string> skipped;  // why samples were left out, each naming its file
};

// One consumer thread calls start_epoch() and next(); not otherwise thread-safe.
class OrderedBatches {
 public:
  using Builder = std::function<BuiltBatch(const BatchRequest&)>;

  // `owner` names the loader in errors. The builder runs on the workers, concurrently.
  OrderedBatches(std::string owner, int64_t num_samples, BatchingOptions options, Builder builder);
  // Stops the workers, also in the middle of an epoch: each finishes at most the sample it is on.
  ~OrderedBatches();
  OrderedBatches(const OrderedBatches&) = delete;
  OrderedBatches& operator=(const OrderedBatches&) = delete;

  // Begins epoch `epoch` at batch `first` (a resumed run), dropping whatever is left of the
  // previous one; its batches hold `shard`'s part of each batch.
  void start_epoch(int64_t epoch, int64_t first = 0, Shard shard = {});
  // The epoch's next batch, or nullopt after its last.
  std::optional<std::any> next();

  int64_t batches_per_epoch() const;
  // Positions in an epoch's order: the samples, or repeated_epoch_length with repeats.
  int64_t epoch_length() const { return epoch_length_; }
  const BatchingOptions& options() const { return options_; }
  // What the builders left out in the batches of this epoch returned so far, in batch order.
  const std::vector<std::string>& skipped() const { return skipped_; }

 private:
  struct Built {
    BuiltBatch built;
    std::exception_ptr error;
  };

  void work();
  void stop_workers();  // stops and joins the threads started
  Built build(int64_t batch_index, const std::vector<EpochEntry>& order, int64_t epoch, const Shard& shard,
              uint64_t generation) const;

  const std::string owner_;
  const int64_t num_samples_;
  const BatchingOptions options_;
  const int64_t epoch_length_;
  const Builder builder_;
  std::vector<std::string> skipped_;  // consumer thread only

  mutable std::mutex mutex_;
  std::condition_variable work_ready_;   // workers: a batch may be claimed, or stop
  std::condition_variable batch_ready_;  // consumer: a built batch arrived
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> generation_{0};  // bumped by start_epoch; older work is dropped
  // Guarded by mutex_:
  bool started_ = false;
  int64_t epoch_ = 0;
  Shard shard_;
  std::shared_ptr<const std::vector<EpochEntry>> order_;
  int64_t next_to_claim_ = 0;
  int64_t next_to_return_ = 0;
  std::map<int64_t, Built> built_;
  std::vector<std::thread> workers_;  // last: started once everything above exists
};

}  // namespace lowbit::data
