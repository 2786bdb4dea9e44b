#pragma once
// One pass over a test split: the model in eval mode, without gradient, its predict() outputs
// fed to the metrics, which read the device once at the end. Data-parallel (`replicas`), each
// process evaluates its share of every batch and the metrics are merged (Metric::merge), so every
// sample counts once and every process gets the same values.

#include <lowbit/csrc/engine/datasets/dataset.h>
#include <lowbit/csrc/engine/metrics/metric.h>
#include <lowbit/csrc/engine/task/model.h>

namespace lowbit::engine {

struct EvalResult {
  MetricValues values;
  int64_t samples = 0;

  // The value `name`; throws naming the values present when there is none.
  double value(const std::string& name) const;
};

class EvalLoop {
 public:
  EvalLoop(DataSource& data, std::unique_ptr<Metric> metrics, const torch::Device& device,
           hooks::Replicas* replicas = nullptr);
  EvalResult run(Model& model);

 private:
  DataSource& data_;
  std::unique_ptr<Metric> metrics_;
  torch::Device device_;
  hooks::Replicas* replicas_;
};

}  // namespace lowbit::engine
