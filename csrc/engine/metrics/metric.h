#pragma once
// Metrics by name (as mmengine's Evaluator/Metric): a recipe's
//   eval: {metrics: [{name: loss}, {name: accuracy, topk: [1, 5]}]}
// and a C++ user's make_metric("accuracy", {{"topk", ...}}) reach the same factory. A metric
// accumulates batches on the outputs' device without synchronising with the host, and reads
// the device once in compute(); merge() makes it the value over every replica's batches (the
// built-in metrics: loss and accuracy sum their totals, the detection metrics gather their images).
// Built in (metrics/classification.cpp):
//   loss      "loss": mean label cross-entropy of the output "logits" (no label smoothing)
//   accuracy  "top<k>" for each k of `topk` ([1, 5]): % of samples whose label is among the k
//             largest "logits" (k is capped at the number of classes)
// and the detection metrics coco_bbox and voc_ap (metrics/detection.h), which copy each batch to
// the host.
//
//   class MyMetric : public engine::Metric { ... };
//   LOWBIT_REGISTER_METRIC(my_metric, [](ParamReader& options) { return std::make_unique<MyMetric>(); });

#include <lowbit/csrc/engine/task/model.h>
#include <lowbit/csrc/util/params.h>
#include <lowbit/modules/hooks/replicas.h>

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace lowbit::engine {

// Named values, in the order a metric reports them.
using MetricValues = std::vector<std::pair<std::string, double>>;

class Metric {
 public:
  virtual ~Metric() = default;
  virtual void reset() = 0;
  // Adds one batch: its targets and the model's outputs for it.
  virtual void update(const Batch& batch, const Outputs& outputs) = 0;
  // The values over the batches since reset().
  virtual MetricValues compute() = 0;
  // Data-parallel evaluation (each replica updated with its share of the test split): afterwards
  // compute() gives, on every replica, the value over all replicas' batches. Every replica calls
  // it once before compute(), so the collectives match. The default throws, naming `name`.
  virtual void merge(hooks::Replicas& replicas, const std::string& name);
};

using MetricFactory = std::function<std::unique_ptr<Metric>(ParamReader& options)>;

bool register_metric(const std::string& name, MetricFactory factory);

// Throws OptionError at "name" for an unknown metric, at the option's key for a bad option.
std::unique_ptr<Metric> make_metric(const std::string& name, const Params& options = {});

std::vector<std::string> registered_metrics();

// A recipe's metric: `{name: accuracy, topk: [1]}`.
struct MetricSpec {
  std::string name;
  Params options;
};

// Several metrics as one: reset, update and compute each, values in order (a name reported twice
// is an error naming it).
class MetricList : public Metric {
 public:
  // `names`: each metric's name, for merge's error (default: "metric i").
  explicit MetricList(std::vector<std::unique_ptr<Metric>> metrics, std::vector<std::string> names = {});
  void reset() override;
  void update(const Batch& batch, const Outputs& outputs) override;
  MetricValues compute() override;
  void merge(hooks::Replicas& replicas, const std::string& name) override;

 private:
  std::vector<std::unique_ptr<Metric>> metrics_;
  std::vector<std::string> names_;
};

std::unique_ptr<MetricList> make_metrics(const std::vector<MetricSpec>& specs);

}  // namespace lowbit::engine

#define LOWBIT_REGISTER_METRIC(name, factory) \
  static const bool lowbit_metric_registered_##name = ::lowbit::engine::register_metric(#name, factory)
