#pragma once
// ReBNN's weight binarizer (Resilient Binary Neural Network, Xu et al. AAAI 2023,
// arXiv 2302.00956; official code SteveTsui/ReBNN 2_step2_rebnn/rebnn.py, `BiConv` and
// `Binarization`): the bilinear binarization of csrc/ops/bilinear_sign.h,
//   W_hat = kappa alpha_c sign(W), alpha = |s|, kappa = 0.02,
//   dL/dW = gamma_c (W - alpha_c b) + alpha_c g, dL/dalpha_c = sum g W - gamma_c sum (W - alpha_c b) b,
//   dL/ds = sign(s) dL/dalpha,
// with gamma_c the "balanced parameter" of the weighted reconstruction loss, by `gamma_mode`:
//   official_constant (default): gamma_c = `gamma` = 2e-4 in every channel, layer and step. The
//     official code computes p_c = (fraction of flipped signs) * max_j |g_cj| and then "clamps" it with
//     p = 1e-5 - relu(1e-5 - p); p = 2e-4 + relu(p - 2e-4), i.e. max(min(p, 1e-5), 2e-4) = 2e-4
//     for every p. That constant is what produced the published 66.9% top-1, so it is the default.
//   paper_dynamic: the paper's Eq. (gamma_i^{t+1} = ||b_i^t * b_i^{t+1} - 1||_0 / M * max_j |dL/dW_hat_ij^t|):
//     gamma_c = (k_c / M) * m_c, where k_c counts the positions of channel c whose sign(W) changed
//     since the previous training forward (a product <= 0, so 0 <-> +-1 counts, as in both paper
//     and code), M = C_in k k, and m_c = max |dL/dW_hat| of channel c in the previous backward;
//     then, with `clamp_gamma`, clamped to [gamma_min, gamma_max] = [1e-5, 2e-4] (the evident intent
//     of the official thresholds). The previous sign(W) is held in the buffer `previous_sign`, not
//     estimated from W.grad as in the official code (W - grad is not the previous weight under Adam,
//     and .grad is None under DataParallel); m_c in `previous_grad_max`, recorded by a hook during
//     backward. The first training forward (no previous sign) has k = 0. State changes only in a
//     training-mode forward with gradients enabled, which must come once per optimizer step.
//     The gamma of the last training forward is kept in `balanced_gamma` for inspection.
//     Data-parallel replicas (hooks/replicas.h): m_c of the whole batch is max_j |mean over the
//     replicas of dL/dW_hat_cj| (equal shares, each loss a mean over its share), which the replicas'
//     own maxima do not determine. A backward under replicas therefore also keeps its local
//     dL/dW_hat, pending (not a buffer); settle() averages it over the replicas (all_reduce Mean)
//     and stores max_j |.| in `previous_grad_max`, which until then holds the local maximum. The
//     engine settles after each optimizer step (TrainingHooks::on_step_end); a training forward
//     settles what is still pending (a user's loop without end_step). Alone, nothing is pending.
// The scale keeps its official name `scaling_factor` and shape [C_out, 1, 1, 1], initialised
// N(0, 1) (torch.randn); it is absent from a stage-1 (real-valued weight) checkpoint and starts
// random at stage 2, the BatchNorm after the convolution absorbing the absolute scale.
// Registry: {name: rebnn, channels, kappa: 0.02, gamma_mode: official_constant | paper_dynamic,
//            gamma: 2e-4, clamp_gamma: true, gamma_min: 1e-5, gamma_max: 2e-4}.
// Under loss scaling (train.amp) the gamma term is scaled with the task gradient and the recorded
// maxima are unscaled (csrc/ops/loss_scale.h): the same update and state as without scaling.

#include <lowbit/modules/hooks/training_hooks.h>
#include <lowbit/modules/quant/quantizer.h>

#include <torch/arg.h>

#include <memory>

namespace lowbit::quant {

enum class GammaMode { OfficialConstant, PaperDynamic };

GammaMode parse_gamma_mode(const std::string& name);  // "official_constant", "paper_dynamic"

struct ReBnnOptions {
  ReBnnOptions(int64_t channels) : channels_(channels) {}  // NOLINT: implicit, as torch's options
  TORCH_ARG(int64_t, channels);
  TORCH_ARG(double, kappa) = 0.02;
  TORCH_ARG(GammaMode, gamma_mode) = GammaMode::OfficialConstant;
  TORCH_ARG(double, gamma) = 2e-4;  // official_constant
  TORCH_ARG(bool, clamp_gamma) = true;  // paper_dynamic
  TORCH_ARG(double, gamma_min) = 1e-5;
  TORCH_ARG(double, gamma_max) = 2e-4;
};

class ReBnnImpl : public QuantizerCloneable<ReBnnImpl>, public hooks::TrainingHooks {
 public:
  explicit ReBnnImpl(ReBnnOptions options);
  void reset() override;
  torch::Tensor forward(const torch::Tensor& w) override;
  int64_t bits() const override { return 1; }
  bool outputs_scaled_signs() const override { return true; }
  void check_shape(c10::IntArrayRef shape) const override;
  void pretty_print(std::ostream& stream) const override;
  void on_step_end() override { settle(); }

  // paper_dynamic: sets previous_grad_max from a pending gradient averaged over the replicas;
  // nothing when none is pending. Every replica calls it at the same point.
  void settle();
  bool pending() const { return pending_grad_->defined(); }

  std::string registry_name() const override { return "rebnn"; }
  Params config() const override;
  ReBnnOptions options;
  torch::Tensor scaling_factor;
  // paper_dynamic only: sign(W) of the previous training forward ([0] before the first one),
  // max |dL/dW_hat| per channel of the previous backward, and the gamma last used ([C_out] each).
  torch::Tensor previous_sign, previous_grad_max, balanced_gamma;

 private:
  torch::Tensor dynamic_gamma(const torch::Tensor& w);
  // The local dL/dW_hat of a backward under replicas until settled (shared with its hook).
  std::shared_ptr<torch::Tensor> pending_grad_ = std::make_shared<torch::Tensor>();
};
TORCH_MODULE(ReBnn);

}  // namespace lowbit::quant
