#include <lowbit/csrc/engine/loop/eval_loop.h>

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

EvalLoop::EvalLoop(DataSource& data, std::unique_ptr<Metric> metrics, const torch::Device& device)
    : data_(data), metrics_(std::move(metrics)), device_(device) {}

EvalResult EvalLoop::run(Model& model) {
  torch::NoGradGuard no_grad;
  model.eval();
  metrics_->reset();
  EvalResult result;
  auto reader = data_.epoch(0, 0);
  Batch batch;
  while (reader->next(batch)) {
    const auto on_device = batch.to(device_);
    metrics_->update(on_device, model.predict(on_device));
    result.samples += on_device.size();
  }
  result.values = metrics_->compute();
  return result;
}

}  // namespace lowbit::engine
