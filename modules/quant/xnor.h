#pragma once
// XNOR-Net weight binarization: W_b = alpha_o sign(W), alpha_o = mean |W_o| per output channel,
// with the scale gradient chosen by ScaleGrad (csrc/ops/scaled_sign.h):
//   xnor (default, the XNOR-Net paper), detached (Bi-Real Net / ReActNet PyTorch code),
//   magnitude_aware (Bi-Real Net paper).
// Registry: {name: xnor, scale_grad: xnor | detached | magnitude_aware}.
// Not done: the official XNOR-Net loop (allenai/XNOR-Net train.lua) also rewrites the latent
// weights of every convolution but the first and last before each iteration, W <- clamp(W -
// mean_{C_in}(W), -1, 1). That is an update of the optimizer's parameters, not part of the
// binarization this quantizer computes (a pure function of W); no shipped recipe trains XNOR-Net.

#include <lowbit/csrc/ops/scaled_sign.h>
#include <lowbit/modules/quant/quantizer.h>

#include <torch/arg.h>

namespace lowbit::quant {

struct XnorOptions {
  TORCH_ARG(ops::ScaleGrad, scale_grad) = ops::ScaleGrad::Xnor;
};

class XnorImpl : public QuantizerCloneable<XnorImpl> {
 public:
  explicit XnorImpl(XnorOptions options = {});
  void reset() override {}
  torch::Tensor forward(const torch::Tensor& w) override;
  int64_t bits() const override { return 1; }
  bool outputs_scaled_signs() const override { return true; }
  void check_shape(c10::IntArrayRef shape) const override;
  std::string registry_name() const override { return "xnor"; }
  Params config() const override;
  XnorOptions options;
};
TORCH_MODULE(Xnor);

}  // namespace lowbit::quant
