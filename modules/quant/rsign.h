#pragma once
// ReActNet's RSign (Liu et al. ECCV 2020): b = sign(x + tau_c) with a learnable threshold per
// input channel (dim 1), initialised to 0, and the ApproxSign backward (csrc/ops/ste.h); the
// gradient to tau_c is the sum of the input gradient over the channel. The official code adds a
// LearnableBias (the paper writes x - alpha_c); the parameter keeps its official name `bias` and
// shape [1, C, 1, 1] so official state dicts load by name.
// Registry: {name: rsign, channels}.

#include <lowbit/modules/quant/quantizer.h>

#include <torch/arg.h>

namespace lowbit::quant {

struct RSignOptions {
  RSignOptions(int64_t channels) : channels_(channels) {}  // NOLINT: implicit, as torch's options
  TORCH_ARG(int64_t, channels);
};

class RSignImpl : public QuantizerCloneable<RSignImpl> {
 public:
  explicit RSignImpl(RSignOptions options);
  void reset() override;
  torch::Tensor forward(const torch::Tensor& x) override;
  int64_t bits() const override { return 1; }
  bool outputs_signs() const override { return true; }
  void check_shape(c10::IntArrayRef shape) const override;
  std::string registry_name() const override { return "rsign"; }
  Params config() const override;
  RSignOptions options;
  torch::Tensor bias;
};
TORCH_MODULE(RSign);

}  // namespace lowbit::quant
