#include <lowbit/csrc/engine/datasets/dataset.h>

#include <lowbit/csrc/util/registry.h>

namespace lowbit::engine {
namespace {

util::Registry<DataSetFactory>& dataset_registry() {
  static util::Registry<DataSetFactory> r("data set", "dataset");
  return r;
}

}  // namespace

bool register_dataset(const std::string& name, DataSetFactory factory) { return dataset_registry().add(name, std::move(factory)); }

std::string data_root(const DataSpec& spec, const std::string& fallback) {
  const auto& root = spec.root.empty() ? fallback : spec.root;
  LOWBIT_CHECK_OPTION(!root.empty(), "root", "missing: where the ", spec.dataset, " files are (or --set data.root=...)");
  return root;
}

std::unique_ptr<DataSet> make_dataset(const DataSpec& spec) { return dataset_registry().make(spec.dataset, spec.options, spec); }

std::vector<std::string> registered_datasets() { return dataset_registry().names(); }

}  // namespace lowbit::engine
