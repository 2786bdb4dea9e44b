#pragma once
// Binarization by sign(x) with a straight-through estimator (csrc/ops/sign.h): BNN's activation
// (clipped STE), Bi-Real Net's (ApproxSign), BinaryConnect's weights (identity STE).
// Registry: {name: sign, ste: identity | clipped | approx}; default clipped.

#include <lowbit/csrc/ops/ste.h>
#include <lowbit/modules/quant/quantizer.h>

#include <torch/arg.h>

namespace lowbit::quant {

struct SignOptions {
  TORCH_ARG(ops::Ste, ste) = ops::Ste::Clipped;
};

class SignImpl : public QuantizerCloneable<SignImpl> {
 public:
  explicit SignImpl(SignOptions options = {});
  void reset() override {}
  torch::Tensor forward(const torch::Tensor& x) override;
  int64_t bits() const override { return 1; }
  bool outputs_signs() const override { return true; }
  std::string registry_name() const override { return "sign"; }
  Params config() const override;
  SignOptions options;
};
TORCH_MODULE(Sign);

}  // namespace lowbit::quant
