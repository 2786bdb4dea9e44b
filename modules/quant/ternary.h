#pragma once
// Ternary weights {-alpha, 0, +alpha}, per output channel (dim 0: TerViT's channel-wise
// ternarization, the default) or per tensor (the layer-wise ablation). TerViT (Xu et al. 2022,
// arXiv 2201.08050) has no released code; the two scale rules are our reading of its abstract
// (shared/methods/tervit.md section 4, docs/methods/tervit.md):
//   scale: twn (default) — TWN's rule (csrc/ops/ternarize.h): Delta = delta * mean|W|,
//     alpha = mean of the kept |W|, both recomputed every forward and detached; backward a
//     straight-through estimator `ste` (identity or clipped). The abstract's "ternarization
//     interval" per channel reads as an explicit Delta_c, hence the default.
//   scale: learnable — Option B, the LSQ form of the group's Q-ViT code at levels {-1, 0, 1}:
//     W_t = round_ste(clamp(W / alpha', -1, 1)) * alpha', alpha' = gradscale(alpha, g),
//     g = 1/sqrt(numel(W) * 1) (Q_P = 1), through the LSQ op (csrc/ops/lsq.h, range {1, 1}):
//     dW_t/dW = 1[|W| <= alpha], dW_t/dalpha = g (round(u) - u) inside, g sign(u) outside.
//     The implicit threshold is alpha/2. alpha (one per output channel, or one) is set at the
//     first forward from the TWN alpha of the weights it sees (the stage-1 latent weights when a
//     stage switch copied them in), and `initialized` records that, as lsq's buffer.
// Registry: {name: ternary, scale: twn | learnable, delta: 0.7, per_channel: true,
//            ste: identity | clipped (twn only), channels (learnable per channel; a QuantPolicy
//            fills it with the output channels)}.
// State: none (twn); `alpha` ([channels] or [1]) and `initialized` (learnable).

#include <lowbit/csrc/ops/ste.h>
#include <lowbit/modules/quant/host_flag.h>
#include <lowbit/modules/quant/quantizer.h>

#include <torch/arg.h>

namespace lowbit::quant {

enum class TernaryScale { Twn, Learnable };

struct TernaryOptions {
  TORCH_ARG(double, delta) = 0.7;
  TORCH_ARG(bool, per_channel) = true;
  TORCH_ARG(ops::Ste, ste) = ops::Ste::Identity;
  TORCH_ARG(TernaryScale, scale) = TernaryScale::Twn;
  // learnable with per_channel: the number of output channels (the size of alpha)
  TORCH_ARG(int64_t, channels) = 1;
};

class TernaryImpl : public QuantizerCloneable<TernaryImpl> {
 public:
  explicit TernaryImpl(TernaryOptions options = {});
  void reset() override;
  torch::Tensor forward(const torch::Tensor& w) override;
  int64_t bits() const override { return 2; }
  bool outputs_scaled_signs() const override { return true; }
  void check_shape(c10::IntArrayRef shape) const override;
  void pretty_print(std::ostream& stream) const override;

  // learnable: sets alpha to the TWN alpha of `w` and marks the quantizer initialised.
  void initialize_from(const torch::Tensor& w);

  std::string registry_name() const override { return "ternary"; }
  Params config() const override;
  TernaryOptions options;
  torch::Tensor alpha, initialized;  // learnable only

 private:
  HostFlag initialized_flag_;  // `initialized` on the host, re-read when a write or load changes it
};
TORCH_MODULE(Ternary);

}  // namespace lowbit::quant
