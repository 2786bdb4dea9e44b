#include <lowbit/csrc/engine/optim/optim_step.h>

#include <lowbit/csrc/ops/loss_scale.h>

#include <torch/types.h>

namespace lowbit::engine {

torch::Tensor clip_grad_norm(const std::vector<torch::Tensor>& parameters, double max_norm) {
  std::vector<torch::Tensor> grads, norms;
  for (const auto& p : parameters) {
    if (p.grad().defined()) grads.push_back(p.grad());
  }
  if (grads.empty()) return {};
  for (const auto& g : grads) norms.push_back(g.data().norm(2.0));
  const auto total = norms.size() == 1 ? norms[0] : torch::stack(norms).norm(2.0);
  const auto coef = torch::clamp(max_norm / (total + 1e-6), std::nullopt, 1.0);
  for (auto& g : grads) g.data().mul_(coef);
  return total;
}

OptimStep::OptimStep(torch::optim::Optimizer& optimizer, std::vector<torch::Tensor> clipped, double grad_clip, bool amp)
    : optimizer_(optimizer), clipped_(std::move(clipped)), grad_clip_(grad_clip), scaler_(amp) {}

bool OptimStep::operator()(const torch::Tensor& loss) {
  optimizer_.zero_grad();
  {
    const ops::LossScaleGuard scale(scaler_.multiplier());
    scaler_.scale(loss).backward();
  }
  if (grad_clip_ > 0) {
    scaler_.unscale(optimizer_);
    clip_grad_norm(clipped_, grad_clip_);
  }
  const bool stepped = scaler_.step(optimizer_);
  scaler_.update();
  return stepped;
}

}  // namespace lowbit::engine
