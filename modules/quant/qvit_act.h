#pragma once
// Q-ViT's activation quantizer ActQ (Li et al., "Q-ViT: Accurate and Fully Quantized Low-bit
// Vision Transformer", NeurIPS 2022; official code YanjingLi0202/Q-ViT Quant.py ActQ) and, at
// 1 bit, Bi-ViT's ActBi (Li et al., "Bi-ViT", AAAI 2024; YanjingLi0202/Bi-ViT Bi_Quant.py ActBi):
// LSQ with a learnable step alpha and a learnable zero point z in integer units, `channels` of
// each along `channel_dim` (per feature of tokens [B, N, C] with channel_dim -1, per head of
// q/k/v [B, H, N, d] and attention maps [B, H, N, N] with channel_dim 1; channels 1: one pair
// for the whole tensor). The axis is always the option, never guessed from the input's rank.
//
// Forward (Qn <= 0 <= Qp as in the official code):
//   z_r = round_ste(z),  u = x / alpha + z_r,  x_q = (L(clamp(u, Qn, Qp)) - z_r) * alpha
//   b >= 2: L = round;  signed: Qn = -2^(b-1), Qp = 2^(b-1) - 1;  unsigned: Qn = 0, Qp = 2^b - 1
//   b = 1 : L = sign (identity STE), Qn = -1, Qp = 1 for every input (ActBi ignores `signed`):
//           levels (-1 - z_r) alpha and (1 - z_r) alpha (and -z_r alpha where u = 0).
// Backward (m = 1[Qn <= u <= Qp], g = 1/sqrt(numel(x) Qp) with numel of the whole batch tensor,
// not per sample as in the LSQ paper):
//   d x_q / d x     = m
//   d x_q / d alpha = g [m (L(u) - u) + (1 - m)(clamp(u, Qn, Qp) - z_r)]
//   d x_q / d z     = -g alpha (1 - m)
// Computed as LSQ+ (csrc/ops/lsq.h: v_hat = L(clamp((x - beta)/s)) s + beta) with s = alpha and
// beta = -z_r alpha: the fused kernel gives g (L(u) - u) inside and g Qp / g Qn outside for s,
// g (1 - m) for beta, and autograd through beta adds -z_r g (1 - m) to alpha's gradient and
// -alpha g (1 - m) to z's: exactly the official grad_scale / round_pass graph.
//
// Lazy initialisation at the first forward in training mode (the official
// `if self.training and self.init_state == 0`), from that batch only:
//   signed <- min x < -1e-5 (then frozen);  alpha <- 2 mean|x| / sqrt(Qp) (one value, every channel);
//   z <- 0.9 z + 0.1 (min x - alpha Qn)     (z starts at 0: one EMA step, as the official code)
// Under R data-parallel replicas (hooks/replicas.h), from the whole batch: min x = Min over the
// replicas of the shares' minima, mean|x| = Mean over the replicas of the shares' mean|x| (exact
// with equal shares); every replica initialises at the same training forward. g (above) counts the
// whole batch's numel (hooks::batch_numel: R numel(x)), so the replicas' averaged alpha and z
// gradients are one process's on the whole batch (the official code under DDP counts its own
// process's share, making them sqrt(R) larger).
// An eval-mode forward before that quantizes with the current state (alpha 1, z 0), as the
// official code does; it does not initialise.
//
// State, with the official names so that Q-ViT / Bi-ViT checkpoints load by name: parameters
// `alpha` [channels] and `zero_point` [channels]; float buffers `init_state` [1] and `signed` [1].
// Registry: {name: qvit_act, bits, channels: 1, channel_dim: -1}; a QuantPolicy fills in
// channels and channel_dim from the layer.

#include <lowbit/modules/quant/host_flag.h>
#include <lowbit/modules/quant/quantizer.h>

#include <torch/arg.h>

namespace lowbit::quant {

struct QvitActOptions {
  QvitActOptions(int64_t bits) : bits_(bits) {}  // NOLINT: implicit, as torch's options
  TORCH_ARG(int64_t, bits);  // 1 (ActBi) .. 16
  TORCH_ARG(int64_t, channels) = 1;
  TORCH_ARG(int64_t, channel_dim) = -1;
};

class QvitActImpl : public QuantizerCloneable<QvitActImpl> {
 public:
  explicit QvitActImpl(QvitActOptions options);
  void reset() override;
  torch::Tensor forward(const torch::Tensor& x) override;
  QuantizedTensor forward_with_grid(const torch::Tensor& x) override;
  std::optional<ops::LsqGrid> uniform_grid() override;
  int64_t bits() const override { return options.bits(); }
  void check_shape(c10::IntArrayRef shape) const override;
  void pretty_print(std::ostream& stream) const override;

  // Sets signed, alpha and zero_point from `x` as the first training batch does.
  void initialize_from(const torch::Tensor& x);
  bool initialized() { return init_flag_.get(init_state); }
  bool is_signed() { return signed_flag_.get(signed_); }

  std::string registry_name() const override { return "qvit_act"; }
  Params config() const override;
  QvitActOptions options;
  torch::Tensor alpha, zero_point, init_state, signed_;

 private:
  // The grid of step alpha and `offset` (-round(zero_point) alpha).
  ops::LsqGrid grid_with(const torch::Tensor& offset);
  HostFlag init_flag_, signed_flag_;
};
TORCH_MODULE(QvitAct);

}  // namespace lowbit::quant
