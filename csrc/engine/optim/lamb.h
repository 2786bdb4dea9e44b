#pragma once
// LAMB (You et al., ICLR 2020, "Large Batch Optimization for Deep Learning: Training BERT in 76
// minutes") as NVIDIA apex's FusedLAMB with its defaults (apex/optimizers/fused_lamb.py and
// csrc/multi_tensor_lamb.cu: adam_w_mode, bias_correction, grad_averaging), which Q-ViT trains
// with (timm's create_optimizer, `--opt fusedlamb`). One step, t the group's step count:
//   N  = ‖(‖g_i‖₂)_i‖₂ over every parameter with a gradient, in every group
//   ĝ  = g / (N / max_grad_norm)  if N > max_grad_norm,  else g            (global norm clip)
//   m ← β1 m + (1 - β1) ĝ,   v ← β2 v + (1 - β2) ĝ²
//   u  = (m / (1 - β1^t)) / (sqrt(v / (1 - β2^t)) + eps) + wd · w          (decoupled decay)
//   r  = ‖w‖₂ / ‖u‖₂ per parameter tensor when both are > 0, else 1; applied only where
//        wd != 0 or use_nvlamb (FusedLAMB's stage 2), otherwise r = 1
//   w ← w - lr · r · u
// With weight decay 0 and without use_nvlamb (Q-ViT's setting) this is Adam on the clipped
// gradient. timm.optim.Lamb (decoupled_decay false) computes the same.
// As FusedLAMB, t counts the group's steps (group['step'], kept in the group's options, so it is
// checkpointed with them), and N, the clip and r stay on the device (no host synchronisation).
// Differences: max_grad_norm 0 turns the clip off (FusedLAMB would divide by N / 0); the update
// is not written into the gradient buffers (FusedLAMB leaves u in p.grad); the arithmetic is in
// the parameter's dtype (FusedLAMB's kernel computes fp16 parameters in fp32).

#include <torch/optim/optimizer.h>
#include <torch/optim/serialize.h>

#include <tuple>
#include <vector>

namespace lowbit::engine {

struct LambOptions : public torch::optim::OptimizerCloneableOptions<LambOptions> {
  LambOptions(double lr = 1e-3);  // NOLINT: LibTorch's serialisation constructs options from a learning rate
  TORCH_ARG(double, lr) = 1e-3;
  using betas_t = std::tuple<double, double>;
  TORCH_ARG(betas_t, betas) = std::make_tuple(0.9, 0.999);
  TORCH_ARG(double, eps) = 1e-6;            // FusedLAMB's default
  TORCH_ARG(double, weight_decay) = 0.01;  // FusedLAMB's default
  TORCH_ARG(double, max_grad_norm) = 1.0;  // 0: no clipping
  TORCH_ARG(bool, use_nvlamb) = false;     // the trust ratio also where weight_decay is 0
  TORCH_ARG(int64_t, step) = 0;            // the group's step count t

 public:
  void serialize(torch::serialize::InputArchive& archive) override;
  void serialize(torch::serialize::OutputArchive& archive) const override;
  double get_lr() const override;
  void set_lr(double lr) override;
};

struct LambParamState : public torch::optim::OptimizerCloneableParamState<LambParamState> {
  TORCH_ARG(torch::Tensor, exp_avg);     // m
  TORCH_ARG(torch::Tensor, exp_avg_sq);  // v

 public:
  void serialize(torch::serialize::InputArchive& archive) override;
  void serialize(torch::serialize::OutputArchive& archive) const override;
};

class Lamb : public torch::optim::Optimizer {
 public:
  explicit Lamb(const std::vector<torch::optim::OptimizerParamGroup>& groups, LambOptions defaults = {});
  explicit Lamb(std::vector<torch::Tensor> params, LambOptions defaults = {})
      : Lamb({torch::optim::OptimizerParamGroup(std::move(params))}, std::move(defaults)) {}

  torch::Tensor step(LossClosure closure = nullptr) override;
  void save(torch::serialize::OutputArchive& archive) const override;
  void load(torch::serialize::InputArchive& archive) override;

 private:
  // The divisor of every gradient (N / max_grad_norm, at least 1), as a 0-dim tensor on the
  // gradients' device; undefined when no parameter has a gradient or max_grad_norm is 0.
  torch::Tensor clip_divisor() const;
  void step_group(torch::optim::OptimizerParamGroup& group, const torch::Tensor& divisor);

  template <typename Self, typename Archive>
  static void serialize(Self& self, Archive& archive) {
    torch::optim::serialize<LambParamState, LambOptions>(archive, self);
  }
};

}  // namespace lowbit::engine
