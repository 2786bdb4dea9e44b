#pragma once
// Binarization by sign(x) with a straight-through estimator (csrc/ops/sign.h): BNN's activation
// (clipped STE), Bi-Real Net's (ApproxSign), BinaryConnect's weights (identity STE).
// As a weight quantizer, latent_clip c > 0 clamps the layer's latent weight to [-c, c] after every
// optimizer step (BinaryConnect and BNN, c = 1: itayhubara/BinaryNet.pytorch main_mnist.py, and
// main_binary.py before 80f6d46, `p.org.copy_(p.data.clamp_(-1, 1))`); 0, the default, leaves it.
// That code clamps the biases of its binarized layers too (they carry `.org` as well); lowbit
// clamps the weight only, the tensor that is binarized.
// Registry: {name: sign, ste: identity | clipped | approx, latent_clip: 0}; default clipped.

#include <lowbit/csrc/ops/ste.h>
#include <lowbit/modules/quant/quantizer.h>

#include <torch/arg.h>

namespace lowbit::quant {

struct SignOptions {
  TORCH_ARG(ops::Ste, ste) = ops::Ste::Clipped;
  TORCH_ARG(double, latent_clip) = 0;
};

class SignImpl : public QuantizerCloneable<SignImpl> {
 public:
  explicit SignImpl(SignOptions options = {});
  void reset() override {}
  torch::Tensor forward(const torch::Tensor& x) override;
  int64_t bits() const override { return 1; }
  bool outputs_signs() const override { return true; }
  void settle_latent(torch::Tensor& weight) const override;
  bool settles_latent() const override { return options.latent_clip() > 0; }
  std::string registry_name() const override { return "sign"; }
  Params config() const override;
  SignOptions options;
};
TORCH_MODULE(Sign);

}  // namespace lowbit::quant
