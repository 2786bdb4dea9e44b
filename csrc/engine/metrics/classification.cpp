// The classification metrics: loss and accuracy (metric.h), accumulated as device tensors. merge()
// sums each replica's totals on the host: a replica without a batch has no device tensor to offer.
#include <lowbit/csrc/engine/metrics/metric.h>

#include <torch/nn/functional/loss.h>
#include <torch/types.h>

namespace lowbit::engine {
namespace {

const torch::Tensor& labels_of(const Batch& batch, const char* metric) {
  TORCH_CHECK(batch.labels.defined(), "metric '", metric, "': the batch has no labels");
  return batch.labels;
}

// Σ_batches CE_batch · n_batch / Σ n: the mean over samples of the per-batch mean.
class LossMetric : public Metric {
 public:
  void reset() override {
    sum_ = torch::Tensor();
    samples_ = 0;
  }
  void update(const Batch& batch, const Outputs& outputs) override {
    const auto& labels = labels_of(batch, "loss");
    const auto ce = torch::nn::functional::cross_entropy(output(outputs, "logits", "metric 'loss'"), labels);
    const auto weighted = ce.to(torch::kDouble) * static_cast<double>(labels.size(0));
    sum_ = sum_.defined() ? sum_ + weighted : weighted;
    samples_ += labels.size(0);
  }
  // [Σ CE·n, n] summed over the replicas.
  void merge(hooks::Replicas& replicas, const std::string&) override {
    const double sum = sum_.defined() ? sum_.item<double>() : 0.0;
    auto totals = torch::tensor({sum, static_cast<double>(samples_)}, torch::kDouble);
    replicas.all_reduce(totals, hooks::ReduceOp::Sum);
    sum_ = totals[0];
    samples_ = static_cast<int64_t>(totals[1].item<double>());
  }
  MetricValues compute() override {
    return {{"loss", sum_.defined() ? sum_.item<double>() / static_cast<double>(std::max<int64_t>(1, samples_)) : 0.0}};
  }

 private:
  torch::Tensor sum_;
  int64_t samples_ = 0;
};

class AccuracyMetric : public Metric {
 public:
  explicit AccuracyMetric(std::vector<int64_t> topk) : topk_(std::move(topk)) {}
  void reset() override {
    hits_ = torch::Tensor();
    samples_ = 0;
  }
  void update(const Batch& batch, const Outputs& outputs) override {
    const auto& labels = labels_of(batch, "accuracy");
    const auto logits = output(outputs, "logits", "metric 'accuracy'").detach();
    const auto largest = *std::max_element(topk_.begin(), topk_.end());
    const auto top = std::get<1>(logits.topk(std::min<int64_t>(largest, logits.size(1)), 1));
    const auto hits = top.eq(labels.unsqueeze(1));
    std::vector<torch::Tensor> counts;
    for (const auto k : topk_) counts.push_back(hits.slice(1, 0, k).any(1).sum());
    const auto batch_hits = torch::stack(counts);
    hits_ = hits_.defined() ? hits_ + batch_hits : batch_hits;
    samples_ += labels.size(0);
  }
  // [hits per k..., n] summed over the replicas.
  void merge(hooks::Replicas& replicas, const std::string&) override {
    const auto k = static_cast<int64_t>(topk_.size());
    auto totals = torch::zeros({k + 1}, torch::kLong);
    if (hits_.defined()) totals.narrow(0, 0, k).copy_(hits_);
    totals[k] = samples_;
    replicas.all_reduce(totals, hooks::ReduceOp::Sum);
    hits_ = totals.narrow(0, 0, k);
    samples_ = totals[k].item<int64_t>();
  }
  MetricValues compute() override {
    const auto hits = hits_.defined() ? hits_.to(torch::kCPU) : torch::zeros({static_cast<int64_t>(topk_.size())}, torch::kLong);
    const double n = static_cast<double>(std::max<int64_t>(1, samples_));
    MetricValues values;
    for (size_t i = 0; i < topk_.size(); ++i) {
      values.emplace_back("top" + std::to_string(topk_[i]), 100.0 * static_cast<double>(hits[i].item<int64_t>()) / n);
    }
    return values;
  }

 private:
  std::vector<int64_t> topk_;
  torch::Tensor hits_;
  int64_t samples_ = 0;
};

std::unique_ptr<Metric> accuracy(ParamReader& p) {
  const auto topk = p.get<std::vector<int64_t>>("topk", {1, 5});
  p.check(!topk.empty() && std::all_of(topk.begin(), topk.end(), [](int64_t k) { return k >= 1; }), "topk",
          "expected a non-empty list of integers >= 1");
  return std::make_unique<AccuracyMetric>(topk);
}

}  // namespace

LOWBIT_REGISTER_METRIC(loss, [](ParamReader&) -> std::unique_ptr<Metric> { return std::make_unique<LossMetric>(); });
LOWBIT_REGISTER_METRIC(accuracy, accuracy);

}  // namespace lowbit::engine
