#include <lowbit/csrc/engine/datasets/dataset.h>

#include <lowbit/csrc/util/registry.h>

namespace lowbit::engine {
namespace {

util::Registry<DataSetFactory>& dataset_registry() {
  static util::Registry<DataSetFactory> r("data set", "dataset");
  return r;
}

// Each batch of `reader` cut to the shard's rows; empty parts skipped.
class ShardedReader : public EpochReader {
 public:
  ShardedReader(std::unique_ptr<EpochReader> reader, const data::Shard& shard) : reader_(std::move(reader)), shard_(shard) {}
  bool next(Batch& batch) override {
    Batch whole;
    while (reader_->next(whole)) {
      const auto n = whole.size();
      if (shard_.begin(n) == shard_.end(n)) continue;
      batch = whole.rows(shard_.begin(n), shard_.end(n));
      return true;
    }
    return false;
  }

 private:
  std::unique_ptr<EpochReader> reader_;
  data::Shard shard_;
};

}  // namespace

std::unique_ptr<EpochReader> DataSource::shard_epoch(int64_t epoch, int64_t first, const data::Shard& shard) {
  auto whole = this->epoch(epoch, first);
  if (shard.whole()) return whole;
  return std::make_unique<ShardedReader>(std::move(whole), shard);
}

bool register_dataset(const std::string& name, DataSetFactory factory) { return dataset_registry().add(name, std::move(factory)); }

std::string data_root(const DataSpec& spec, const std::string& fallback) {
  const auto& root = spec.root.empty() ? fallback : spec.root;
  LOWBIT_CHECK_OPTION(!root.empty(), "root", "missing: where the ", spec.dataset, " files are (or --set data.root=...)");
  return root;
}

std::unique_ptr<DataSet> make_dataset(const DataSpec& spec) { return dataset_registry().make(spec.dataset, spec.options, spec); }

std::vector<std::string> registered_datasets() { return dataset_registry().names(); }

}  // namespace lowbit::engine
