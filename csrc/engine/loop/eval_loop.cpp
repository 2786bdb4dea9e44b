#include <lowbit/csrc/engine/loop/eval_loop.h>

#include <lowbit/csrc/engine/datasets/device_prefetch.h>

#include <torch/utils.h>

namespace lowbit::engine {

double EvalResult::value(const std::string& name) const {
  std::string present;
  for (const auto& [key, v] : values) {
    if (key == name) return v;
    present += (present.empty() ? "" : ", ") + key;
  }
  TORCH_CHECK(false, "evaluation: no value '", name, "' (values: ", present, ")");
}

EvalLoop::EvalLoop(DataSource& data, std::unique_ptr<Metric> metrics, const torch::Device& device,
                   hooks::Replicas* replicas)
    : data_(data), metrics_(std::move(metrics)), device_(device), replicas_(replicas) {}

EvalResult EvalLoop::run(Model& model) {
  torch::NoGradGuard no_grad;
  model.eval();
  metrics_->reset();
  EvalResult result;
  const data::Shard shard{replicas_ ? replicas_->rank() : 0, replicas_ ? replicas_->world_size() : 1, false};
  auto reader = prefetch_to_device(data_.shard_epoch(0, 0, shard), device_);
  Batch batch;
  while (reader->next(batch)) {
    const auto on_device = batch.to(device_);
    metrics_->update(on_device, model.predict(on_device));
    result.samples += on_device.size();
  }
  if (!shard.whole()) {
    metrics_->merge(*replicas_, "eval");
    auto samples = torch::tensor({result.samples});
    replicas_->all_reduce(samples, hooks::ReduceOp::Sum);
    result.samples = samples.item<int64_t>();
  }
  result.values = metrics_->compute();
  return result;
}

}  // namespace lowbit::engine
