#pragma once
// LSQ (Esser et al. 2020) and LSQ+ (Bhalgat et al. 2020) k-bit quantizers with a learnable step
// (and, for LSQ+, offset), per tensor or per channel; the op and its gradients are in
// csrc/ops/lsq.h; signed 1-bit is the sign code {-1, +1} * s (Bi-ViT's LinearBi). The step is
// initialised from the first tensor the quantizer sees (per channel, or with
// init_per_channel: false every channel from the whole tensor, as Q-ViT's LinearQ / Conv2dQ):
//   mean_abs    : s = 2 mean|v| / sqrt(Q_P)                        (LSQ)
//   three_sigma : s = max(|mu - 3 sigma|, |mu + 3 sigma|) / 2^(b-1)  (LSQ+ weights)
//   min_max     : s = (max - min) / (Q_N + Q_P), beta = min + Q_N s  (LSQ+ activations)
// Gradient scale g = 1/sqrt(N Q_P) with N = numel of the quantized tensor (the whole batch for
// activations, as the Q-ViT code; the LSQ paper counts features per sample).
// Under R data-parallel replicas (hooks/replicas.h) the initial statistics are the whole batch's,
// each replica's share reduced over the replicas (all_reduce), exact with equal shares:
//   mean_abs    : mean|v| = Mean over the replicas of the shares' mean|v|
//   three_sigma : mu = Mean of the shares' E[v], sigma = sqrt(Mean of E[v²] - mu²), each share's
//                 E[v²] formed as var + mean² from its own var_mean, in double (alone: v.mean and
//                 v.std as before, the formula changes only with R > 1)
//   min_max     : min = Min of the shares' minima, max = Max of their maxima
// (a weight, the same on every replica, keeps its own statistics). Every replica must run the
// forward that initialises. N is the whole batch's too (hooks::batch_numel: R numel for an
// activation, numel for a weight), so the replicas' averaged step (and offset) gradients are one
// process's on the whole batch, whatever R. (A per-process implementation under PyTorch's DDP,
// the official Q-ViT code's, uses the process's own numel: its step gradients grow by sqrt(R).)
// Registry: {name: lsq, bits, signed: true, per_channel: false, channels, channel_dim: 0,
//            offset: false, init: mean_abs, init_per_channel: true}; {name: lsq_plus, ...} has
//            offset: true, signed: false, init: min_max as defaults.
// Q-ViT's weight quantizer (Quant.py LinearQ/Conv2dQ): {name: lsq, bits, per_channel: true,
// init_per_channel: false}. Q-ViT initialises at the first *training* forward, this quantizer at
// the first forward: the same step for a weight, which does not change before training starts.
// For an activation (LSQ+ inputs of Q-DETR), Q-DETR's "init only in train mode" is not followed:
// an evaluation before any training (`lowbit eval` of a model.init without quantizer state)
// initialises from its first batch instead of quantizing with step 1.
// State: `step` ([1] or [channels]), `offset` (LSQ+), `initialized` (buffer).

#include <lowbit/modules/quant/host_flag.h>
#include <lowbit/modules/quant/quantizer.h>

#include <torch/arg.h>

namespace lowbit::quant {

enum class LsqInit { MeanAbs, ThreeSigma, MinMax };

struct LsqOptions {
  LsqOptions(int64_t bits) : bits_(bits) {}  // NOLINT: implicit, as torch's options
  TORCH_ARG(int64_t, bits);
  TORCH_ARG(bool, is_signed) = true;
  TORCH_ARG(bool, per_channel) = false;
  // Number of steps when per_channel: the size of the input along channel_dim.
  TORCH_ARG(int64_t, channels) = 1;
  TORCH_ARG(int64_t, channel_dim) = 0;
  TORCH_ARG(bool, offset) = false;
  TORCH_ARG(LsqInit, init) = LsqInit::MeanAbs;
  // With per_channel: each channel's initial step from its own slice (true), or one value from
  // the whole tensor copied to every channel (false).
  TORCH_ARG(bool, init_per_channel) = true;
};

class LsqImpl : public QuantizerCloneable<LsqImpl> {
 public:
  explicit LsqImpl(LsqOptions options);
  void reset() override;
  torch::Tensor forward(const torch::Tensor& x) override;
  QuantizedTensor forward_with_grid(const torch::Tensor& x) override;
  std::optional<ops::LsqGrid> uniform_grid() override;
  int64_t bits() const override { return options.bits(); }
  void check_shape(c10::IntArrayRef shape) const override;
  void pretty_print(std::ostream& stream) const override;

  // Sets step (and offset) from `x` by options.init, and marks the quantizer initialised.
  void initialize_from(const torch::Tensor& x);

  // "lsq" for lsq_plus too, its defaults written out.
  std::string registry_name() const override { return "lsq"; }
  Params config() const override;
  LsqOptions options;
  torch::Tensor step, offset, initialized;

 private:
  HostFlag initialized_flag_;  // `initialized` on the host, re-read when a write or load changes it
};
TORCH_MODULE(Lsq);

}  // namespace lowbit::quant
