#pragma once
// RBONN's weight binarizer (Recurrent Bilinear Optimization for BNNs, Xu et al. ECCV 2022,
// arXiv 2209.01542; official code SteveTsui/RBONN 2_step2_rbonn/rbonn.py, `RBOConv` and
// `Bilinear_binarization`), as the official code runs it:
//   training, from the second step on:  W~ = W - u (.) m (.) G_prev        (recurrent model, in one
//                                        rounding: ops::recurrent_value)
//   eval mode and the first step:       W~ = W
//   W_hat = kappa alpha_c sign(W~), alpha = |s|, kappa = 0.02 (bilinear binarization,
//   csrc/ops/bilinear_sign.h, with gamma = lambda = 1e-4 and dL/ds = sign(s) dL/dalpha).
// W~ is a value of this forward only: the parameter W is never modified, and inference uses W
// (a train/test difference by design of the official code).
// Backward: dL/dW = dL/dW~ = lambda (W~ - alpha b~) + alpha g; dL/du_c = -sum_{i,kh,kw} dL/dW~ m_c G_prev
// (the fused op's backward, as autograd through the line above would give it; u is trained by the
// optimizer, the official code uses 0.1x the base learning rate, recipe group {pattern: '\.u$',
// lr_scale: 0.1}, and has no |.| as the paper's U^{t+1} = |U^t - eta dL/dU^t|).
// G_prev is the previous step's full gradient of W (dL/dW~, lambda term included), held in the
// buffer `previous_grad`, which every training backward records (ops::recurrent_bilinear_sign: the
// shift, the binarization and the record are one fused op; W~ is recomputed, never stored). The
// official code reads W.grad in the forward instead, which depends on zero_grad coming after the forward and is
// None under DataParallel (the recurrent step then never runs). The buffer holds the last
// backward's gradient (with gradient accumulation: the last micro-batch's, not the sum), unscaled
// under loss scaling (train.amp, csrc/ops/loss_scale.h), as is the lambda term it adds.
// Data-parallel replicas (hooks/replicas.h): the backward records this replica's gradient, while
// G_prev is the gradient of the whole batch, their mean over the replicas (equal shares, each loss a
// mean over its share). A backward under replicas therefore leaves `previous_grad` local and pending;
// settle() makes it the replicas' mean (all_reduce Mean). The engine settles after each optimizer
// step (TrainingHooks::on_step_end); a training forward settles what is still pending (a user's
// loop without end_step). Alone, nothing is pending and the buffer is the recorded gradient as soon
// as the backward ends.
// DReLU channel indicator m in {0, 1}^C_out, with K = int(C_out (1 - tau)) ones (tau = 0.6):
//   official_argsort (default): idx = argsort(alpha) ascending; m_k = 1 iff idx[k] < K. The code
//     takes the argsort permutation for ranks: it selects K channels, but not the K smallest
//     alpha. Reproduces the published 66.7%.
//   paper_rank: m_c = 1 for the K channels with the smallest alpha (largest A = 1/alpha), the
//     paper's ranking of diag(A). Neither applies the paper's not-D(w) factor (the code does not).
// tau = 1 gives K = 0: no recurrent step. `recurrent: false` turns it off (the ablation; also what
// the official code degenerates to under multi-GPU DataParallel).
// Parameters keep the official names and shapes: `scale_factor` [C_out, 1, 1, 1] ~ N(0, 1),
// `u` [C_out, 1, 1, 1] = 0.2; both are absent from a stage-1 checkpoint.
// Registry: {name: rbonn, channels, kappa: 0.02, lambda: 1e-4, tau: 0.6,
//            drelu_select: official_argsort | paper_rank, recurrent: true}.

#include <lowbit/modules/hooks/training_hooks.h>
#include <lowbit/modules/quant/quantizer.h>

#include <torch/arg.h>

#include <memory>

namespace lowbit::quant {

enum class DreluSelect { OfficialArgsort, PaperRank };

DreluSelect parse_drelu_select(const std::string& name);  // "official_argsort", "paper_rank"

// K = int(channels (1 - tau)), the number of channels the recurrent step touches.
int64_t drelu_count(int64_t channels, double tau);

// The DReLU channel indicator m ([C] of 0/1 in alpha's dtype) for the C numbers `alpha`.
torch::Tensor drelu_indicator(const torch::Tensor& alpha, double tau, DreluSelect select);

struct RbonnOptions {
  RbonnOptions(int64_t channels) : channels_(channels) {}  // NOLINT: implicit, as torch's options
  TORCH_ARG(int64_t, channels);
  TORCH_ARG(double, kappa) = 0.02;
  TORCH_ARG(double, lambda) = 1e-4;  // the official `para_loss`
  TORCH_ARG(double, tau) = 0.6;      // the official `thre`
  TORCH_ARG(DreluSelect, drelu_select) = DreluSelect::OfficialArgsort;
  TORCH_ARG(bool, recurrent) = true;
};

class RbonnImpl : public QuantizerCloneable<RbonnImpl>, public hooks::TrainingHooks {
 public:
  explicit RbonnImpl(RbonnOptions options);
  void reset() override;
  torch::Tensor forward(const torch::Tensor& w) override;
  int64_t bits() const override { return 1; }
  bool outputs_scaled_signs() const override { return true; }
  void check_shape(c10::IntArrayRef shape) const override;
  void pretty_print(std::ostream& stream) const override;
  void on_step_end() override { settle(); }

  // Averages a pending `previous_grad` over the replicas; nothing when none is pending. Every
  // replica calls it at the same point.
  void settle();
  bool pending() const { return *pending_; }

  std::string registry_name() const override { return "rbonn"; }
  Params config() const override;
  RbonnOptions options;
  torch::Tensor scale_factor, u;
  torch::Tensor previous_grad;  // G_prev, shaped like the weight; [0] until the first backward

 private:
  // Set by the record of a backward under replicas, which shares it.
  std::shared_ptr<bool> pending_ = std::make_shared<bool>(false);
};
TORCH_MODULE(Rbonn);

}  // namespace lowbit::quant
