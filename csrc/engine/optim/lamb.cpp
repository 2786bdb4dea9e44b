#include <lowbit/csrc/engine/optim/lamb.h>

#include <torch/types.h>

#include <cmath>

namespace lowbit::engine {

LambOptions::LambOptions(double lr) : lr_(lr) {}

void LambOptions::serialize(torch::serialize::OutputArchive& archive) const {
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(lr);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(betas);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(eps);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(weight_decay);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(max_grad_norm);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(use_nvlamb);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(step);
}

void LambOptions::serialize(torch::serialize::InputArchive& archive) {
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, lr);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(betas_t, betas);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, eps);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, weight_decay);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, max_grad_norm);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(bool, use_nvlamb);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(int64_t, step);
}

double LambOptions::get_lr() const { return lr(); }

void LambOptions::set_lr(double lr) { this->lr(lr); }

void LambParamState::serialize(torch::serialize::OutputArchive& archive) const {
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(exp_avg);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(exp_avg_sq);
}

void LambParamState::serialize(torch::serialize::InputArchive& archive) {
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(torch::Tensor, exp_avg);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(torch::Tensor, exp_avg_sq);
}

Lamb::Lamb(const std::vector<torch::optim::OptimizerParamGroup>& groups, LambOptions defaults)
    : Optimizer(groups, std::make_unique<LambOptions>(defaults)) {
  const auto [beta1, beta2] = defaults.betas();
  TORCH_CHECK_VALUE(defaults.lr() >= 0, "Lamb: invalid learning rate ", defaults.lr());
  TORCH_CHECK_VALUE(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1, "Lamb: betas must be in [0, 1), got (",
                    beta1, ", ", beta2, ")");
  TORCH_CHECK_VALUE(defaults.eps() > 0, "Lamb: eps must be positive, got ", defaults.eps());
  TORCH_CHECK_VALUE(defaults.weight_decay() >= 0, "Lamb: invalid weight_decay ", defaults.weight_decay());
  TORCH_CHECK_VALUE(defaults.max_grad_norm() >= 0, "Lamb: invalid max_grad_norm ", defaults.max_grad_norm());
}

// FusedLAMB reads max_grad_norm from its defaults: the clip is global, not a group's.
torch::Tensor Lamb::clip_divisor() const {
  const double max_norm = static_cast<const LambOptions&>(defaults()).max_grad_norm();
  if (max_norm == 0) return {};
  std::vector<torch::Tensor> norms;
  for (const auto& group : param_groups()) {
    for (const auto& p : group.params()) {
      if (p.grad().defined()) norms.push_back(p.grad().norm(2.0));
    }
  }
  if (norms.empty()) return {};
  const auto total = torch::stack(norms).norm(2.0);
  return torch::clamp_min(total / max_norm, 1.0);
}

void Lamb::step_group(torch::optim::OptimizerParamGroup& group, const torch::Tensor& divisor) {
  auto& o = static_cast<LambOptions&>(group.options());
  o.step(o.step() + 1);
  const auto [beta1, beta2] = o.betas();
  const double correction1 = 1 - std::pow(beta1, static_cast<double>(o.step()));
  const double correction2 = 1 - std::pow(beta2, static_cast<double>(o.step()));
  const bool adapt = o.weight_decay() != 0 || o.use_nvlamb();
  for (auto& p : group.params()) {
    if (!p.grad().defined()) continue;
    auto& slot = state_[p.unsafeGetTensorImpl()];
    if (!slot) {
      auto fresh = std::make_unique<LambParamState>();
      fresh->exp_avg(torch::zeros_like(p));
      fresh->exp_avg_sq(torch::zeros_like(p));
      slot = std::move(fresh);
    }
    auto& s = static_cast<LambParamState&>(*slot);
    const auto grad = divisor.defined() ? p.grad() / divisor : p.grad();
    s.exp_avg().mul_(beta1).add_(grad, 1 - beta1);
    s.exp_avg_sq().mul_(beta2).addcmul_(grad, grad, 1 - beta2);
    auto update = (s.exp_avg() / correction1) / ((s.exp_avg_sq() / correction2).sqrt() + o.eps());
    if (o.weight_decay() != 0) update.add_(p, o.weight_decay());
    if (adapt) {
      const auto w_norm = p.norm(2.0), u_norm = update.norm(2.0);
      const auto both = torch::logical_and(w_norm > 0, u_norm > 0);
      update.mul_(torch::where(both, w_norm / u_norm, torch::ones_like(w_norm)));
    }
    p.sub_(update, o.lr());
  }
}

torch::Tensor Lamb::step(LossClosure closure) {
  torch::NoGradGuard no_grad;
  torch::Tensor loss;
  if (closure) {
    at::AutoGradMode enable_grad(true);
    loss = closure();
  }
  const auto divisor = clip_divisor();
  for (auto& group : param_groups()) step_group(group, divisor);
  return loss;
}

void Lamb::save(torch::serialize::OutputArchive& archive) const { serialize(*this, archive); }

void Lamb::load(torch::serialize::InputArchive& archive) { serialize(*this, archive); }

}  // namespace lowbit::engine
