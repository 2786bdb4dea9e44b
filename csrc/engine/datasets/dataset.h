#pragma once
// Data sets by name: a recipe's `data: {dataset: imagenet, root: ..., image_size: 224}` and a C++
// user's `engine::make_dataset(spec)` reach the same factory. A factory reads and checks the
// data set's own options (every key of data: but the common ones in DataSpec) without touching
// a file; open() then reads the files of one split. Built in (datasets/*.cpp): fashion_mnist,
// mnist, cifar10, cifar100 (in memory), imagenet (class folders of JPEGs, threaded), and the
// detection sets coco and voc (datasets/detection.cpp: padded images, masks, per-image targets).
//
//   LOWBIT_REGISTER_DATASET(my_set, [](ParamReader& options, const DataSpec& spec) {
//     return std::make_unique<MySet>(spec, options.get<int64_t>("image_size", 32));
//   });
//
// Batches come in an order fixed by (seed, epoch) alone, so that a run resumed mid-epoch sees
// exactly the batches the interrupted one would have.

#include <lowbit/csrc/data/image_set.h>
#include <lowbit/csrc/data/imagenet_pipelines.h>
#include <lowbit/csrc/data/ordered_batches.h>
#include <lowbit/csrc/engine/datasets/batch.h>
#include <lowbit/csrc/util/params.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace lowbit::engine {

// The keys of a recipe's data: section that every data set has.
struct DataSpec {
  std::string dataset;
  std::string root;  // "": the data set's default location, if it has one
  int64_t batch_size = 128;
  int64_t eval_batch_size = 1000;
  int64_t workers = 0;      // decoding threads, for data sets that decode; 0: sized to the machine
                            // (decoding_threads.h)
  int64_t limit_train = 0;  // use only the first N training samples (0: all)
  int64_t limit_test = 0;
  uint64_t seed = 0;        // the recipe's seed: shuffling and augmentation
  Params options;           // the data set's own keys
};

class EpochReader {
 public:
  virtual ~EpochReader() = default;
  // The next batch; false at the end of the epoch.
  virtual bool next(Batch& batch) = 0;
};

// One split of a data set, opened.
class DataSource {
 public:
  virtual ~DataSource() = default;
  virtual int64_t num_samples() const = 0;
  virtual int64_t batches_per_epoch() const = 0;
  // The batches of `epoch` from batch number `first` on.
  virtual std::unique_ptr<EpochReader> epoch(int64_t epoch, int64_t first) = 0;
  // The same batches, each cut to `shard`'s part (data-parallel training, data/ordered_batches.h
  // Shard). The default cuts whole batches: images, labels, targets and every meta tensor whose
  // first dimension is the batch's size, so every process reads and decodes every batch; the
  // built-in data sets build only their part.
  virtual std::unique_ptr<EpochReader> shard_epoch(int64_t epoch, int64_t first, const data::Shard& shard);
};

// A data set with its options read and checked.
class DataSet {
 public:
  virtual ~DataSet() = default;
  // Reads the files of `split` (training batches shuffled and augmented, test batches in file
  // order). Throws OptionError at "root" (or the option at fault) naming the file.
  virtual std::unique_ptr<DataSource> open(data::Split split) const = 0;
  // `count` zero samples shaped as the data set delivers them, for summaries and dry runs.
  virtual Batch example(int64_t count) const = 0;
  // How an evaluation image file becomes a sample (the imagenet set's eval_transform), for a
  // deployed model to apply (`lowbit export` writes it into the file); nullopt for data sets
  // without image files (the in-memory sets).
  virtual std::optional<data::EvalPipeline> eval_pipeline() const { return std::nullopt; }
};

// `spec.root`, else `fallback`; neither: OptionError at "root" asking for one.
std::string data_root(const DataSpec& spec, const std::string& fallback = "");

using DataSetFactory = std::function<std::unique_ptr<DataSet>(ParamReader& options, const DataSpec& spec)>;

bool register_dataset(const std::string& name, DataSetFactory factory);

// The data set `spec.dataset` with its options checked (unknown or mistyped options, a missing
// root throw OptionError naming the key; an unknown name at "dataset").
std::unique_ptr<DataSet> make_dataset(const DataSpec& spec);

std::vector<std::string> registered_datasets();

}  // namespace lowbit::engine

#define LOWBIT_REGISTER_DATASET(name, factory) \
  static const bool lowbit_dataset_registered_##name = ::lowbit::engine::register_dataset(#name, factory)
