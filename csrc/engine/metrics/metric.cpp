#include <lowbit/csrc/engine/metrics/metric.h>

#include <lowbit/csrc/util/registry.h>

#include <set>

namespace lowbit::engine {
namespace {

util::Registry<MetricFactory>& metric_registry() {
  static util::Registry<MetricFactory> r("metric", "name");
  return r;
}

}  // namespace

bool register_metric(const std::string& name, MetricFactory factory) { return metric_registry().add(name, std::move(factory)); }

std::unique_ptr<Metric> make_metric(const std::string& name, const Params& options) {
  return metric_registry().make(name, options);
}

std::vector<std::string> registered_metrics() { return metric_registry().names(); }

void Metric::merge(hooks::Replicas&, const std::string& name) {
  TORCH_CHECK(false, "metric '", name, "' cannot be evaluated data-parallel: it does not implement Metric::merge");
}

MetricList::MetricList(std::vector<std::unique_ptr<Metric>> metrics, std::vector<std::string> names)
    : metrics_(std::move(metrics)), names_(std::move(names)) {
  for (size_t i = names_.size(); i < metrics_.size(); ++i) names_.push_back("metric " + std::to_string(i));
}

void MetricList::reset() {
  for (auto& m : metrics_) m->reset();
}

void MetricList::update(const Batch& batch, const Outputs& outputs) {
  for (auto& m : metrics_) m->update(batch, outputs);
}

void MetricList::merge(hooks::Replicas& replicas, const std::string&) {
  for (size_t i = 0; i < metrics_.size(); ++i) metrics_[i]->merge(replicas, names_[i]);
}

MetricValues MetricList::compute() {
  MetricValues values;
  std::set<std::string> seen;
  for (auto& m : metrics_) {
    for (auto& value : m->compute()) {
      TORCH_CHECK(seen.insert(value.first).second, "metrics: two metrics report '", value.first, "'");
      values.push_back(std::move(value));
    }
  }
  return values;
}

std::unique_ptr<MetricList> make_metrics(const std::vector<MetricSpec>& specs) {
  std::vector<std::unique_ptr<Metric>> metrics;
  std::vector<std::string> names;
  for (const auto& spec : specs) {
    metrics.push_back(make_metric(spec.name, spec.options));
    names.push_back(spec.name);
  }
  return std::make_unique<MetricList>(std::move(metrics), std::move(names));
}

}  // namespace lowbit::engine
