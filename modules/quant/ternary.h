#pragma once
// TWN-style ternary weights {-alpha, 0, +alpha} (csrc/ops/ternarize.h): threshold
// Delta = delta * mean|W| and scale alpha = mean of the kept |W|, per output channel (TerViT's
// channel-wise ternarization, the default) or per tensor (the layer-wise ablation).
// Registry: {name: ternary, delta: 0.7, per_channel: true, ste: identity | clipped}.

#include <lowbit/csrc/ops/ste.h>
#include <lowbit/modules/quant/quantizer.h>

#include <torch/arg.h>

namespace lowbit::quant {

struct TernaryOptions {
  TORCH_ARG(double, delta) = 0.7;
  TORCH_ARG(bool, per_channel) = true;
  TORCH_ARG(ops::Ste, ste) = ops::Ste::Identity;
};

class TernaryImpl : public QuantizerCloneable<TernaryImpl> {
 public:
  explicit TernaryImpl(TernaryOptions options = {});
  void reset() override {}
  torch::Tensor forward(const torch::Tensor& w) override;
  int64_t bits() const override { return 2; }
  void check_shape(c10::IntArrayRef shape) const override;
  TernaryOptions options;
};
TORCH_MODULE(Ternary);

}  // namespace lowbit::quant
