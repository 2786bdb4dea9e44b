#pragma once
// DoReFa-Net k-bit quantizers (csrc/ops/dorefa.h): weights by the tanh normalisation (k > 1) or
// E sign(w/E) (k = 1); activations by quantize_k(clip(x, 0, 1)).
// Registry: {name: dorefa, bits, target: weight | activation}.

#include <lowbit/modules/quant/quantizer.h>

#include <torch/arg.h>

namespace lowbit::quant {

enum class DorefaTarget { Weight, Activation };

struct DorefaOptions {
  DorefaOptions(int64_t bits) : bits_(bits) {}  // NOLINT: implicit, as torch's options
  TORCH_ARG(int64_t, bits);
  TORCH_ARG(DorefaTarget, target) = DorefaTarget::Weight;
};

class DorefaImpl : public QuantizerCloneable<DorefaImpl> {
 public:
  explicit DorefaImpl(DorefaOptions options);
  void reset() override {}
  torch::Tensor forward(const torch::Tensor& x) override;
  int64_t bits() const override { return options.bits(); }
  // Weights: k > 1, q = 2 L / levels - 1 (L in [0, levels], levels = 2^k - 1, the scale 2 / levels
  // as the kernel computes it in float32); k = 1, q = E sign(w / E) (L in {-1, 0, 1}, the scale E
  // read from q). Activations: none.
  std::optional<WeightGrid> weight_grid(const torch::Tensor& w, const torch::Tensor& q) override;
  std::string registry_name() const override { return "dorefa"; }
  Params config() const override;
  DorefaOptions options;
};
TORCH_MODULE(Dorefa);

}  // namespace lowbit::quant
