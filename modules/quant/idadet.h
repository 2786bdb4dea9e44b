#pragma once
// IDa-Det's BiConv weight binarizer (Information Discrepancy-aware Distillation for 1-bit
// Detectors, Xu et al. ECCV 2022, arXiv 2210.03477; official code SteveTsui/IDa-Det
// mmcv-0.5.1/mmcv/cnn/bricks/BiConv.py, `Binarization`): the bilinear binarization of
// csrc/ops/bilinear_sign.h with gamma = mu = 1e-4 (the paper's weight of L_R, Eq. 6.89):
//   W_hat = kappa |s_c| sign(W), kappa = 0.02,
//   dL/dW = mu (W - |s_c| b) + |s_c| g,  dL/ds_c = sum g W - mu sum (W - |s_c| b) b.
// |s| is taken inside the official Function, so s receives dL/d|s| with no sign(s) factor (unlike
// ReBNN and RBONN). BiConv also binarizes its input with ApproxSign: use the input quantizer
// {name: sign, ste: approx}.
// The scale keeps its official name `scale` and shape [C_out, 1, 1, 1], initialised N(0, 1).
// Registry: {name: idadet, channels, kappa: 0.02, mu: 1e-4}.

#include <lowbit/modules/quant/quantizer.h>

#include <torch/arg.h>

namespace lowbit::quant {

struct IdaDetOptions {
  IdaDetOptions(int64_t channels) : channels_(channels) {}  // NOLINT: implicit, as torch's options
  TORCH_ARG(int64_t, channels);
  TORCH_ARG(double, kappa) = 0.02;
  TORCH_ARG(double, mu) = 1e-4;
};

class IdaDetImpl : public QuantizerCloneable<IdaDetImpl> {
 public:
  explicit IdaDetImpl(IdaDetOptions options);
  void reset() override;
  torch::Tensor forward(const torch::Tensor& w) override;
  int64_t bits() const override { return 1; }
  bool outputs_scaled_signs() const override { return true; }
  void check_shape(c10::IntArrayRef shape) const override;
  void pretty_print(std::ostream& stream) const override;

  std::string registry_name() const override { return "idadet"; }
  Params config() const override;
  IdaDetOptions options;
  torch::Tensor scale;
};
TORCH_MODULE(IdaDet);

}  // namespace lowbit::quant
