#include <lowbit/csrc/engine/optim/grad_scaler.h>

#include <ATen/ATen.h>

namespace lowbit::engine {

GradScaler::GradScaler(bool enabled, double init_scale, double growth, double backoff, int64_t growth_interval)
    : enabled_(enabled), growth_(growth), backoff_(backoff), growth_interval_(growth_interval), scale_(init_scale) {}

torch::Tensor GradScaler::scale(const torch::Tensor& loss) const { return enabled_ ? loss * scale_ : loss; }

void GradScaler::unscale(torch::optim::Optimizer& optimizer) {
  if (!enabled_ || unscaled_) return;
  std::vector<at::Tensor> grads;
  for (auto& group : optimizer.param_groups()) {
    for (auto& p : group.params()) {
      if (p.grad().defined()) grads.push_back(p.grad());
    }
  }
  found_inf_ = at::zeros({1}, at::TensorOptions().dtype(at::kFloat).device(grads.empty() ? at::kCPU : grads[0].device()));
  found_ = std::nullopt;
  if (!grads.empty()) {
    const auto inv_scale = at::full({1}, 1.0 / scale_, found_inf_.options());
    at::_amp_foreach_non_finite_check_and_unscale_(grads, found_inf_, inv_scale);
  }
  unscaled_ = true;
}

bool GradScaler::step(torch::optim::Optimizer& optimizer) {
  if (!enabled_) {
    optimizer.step();
    return true;
  }
  unscale(optimizer);
  const bool finite = !found_inf();
  if (finite) optimizer.step();
  return finite;
}

// One host read of the flag per step (a synchronisation on a GPU), shared by step() and update().
bool GradScaler::found_inf() {
  if (!found_) found_ = found_inf_.item<float>() != 0.0f;
  return *found_;
}

void GradScaler::update() {
  if (!enabled_) return;
  TORCH_CHECK(unscaled_, "GradScaler::update() called before step()");
  if (found_inf()) {
    scale_ *= backoff_;
    growth_tracker_ = 0;
  } else if (++growth_tracker_ == growth_interval_) {
    scale_ *= growth_;
    growth_tracker_ = 0;
  }
  unscaled_ = false;
}

double GradScaler::current_scale() const { return scale_; }

torch::Tensor GradScaler::state() const {
  return torch::tensor({scale_, static_cast<double>(growth_tracker_)}, torch::kDouble);
}

void GradScaler::load_state(const torch::Tensor& state) {
  scale_ = state[0].item<double>();
  growth_tracker_ = state[1].item<int64_t>();
}

}  // namespace lowbit::engine
