#pragma once
// XNOR-Net weight binarization: W_b = alpha_o sign(W), alpha_o = mean |W_o| per output channel,
// with the scale gradient chosen by ScaleGrad (csrc/ops/scaled_sign.h):
//   xnor (default, the XNOR-Net paper), detached (Bi-Real Net / ReActNet PyTorch code),
//   magnitude_aware (Bi-Real Net paper).
// The latent weight after every optimizer step (settle_latent): latent_center subtracts its mean
// over the input channels (dim 1: per output channel and kernel position), then latent_clip c > 0
// clamps it to [-c, c]. XNOR-Net's loop (allenai/XNOR-Net train.lua: meancenterConvParms,
// clampConvParms) does both, c = 1, to every convolution but the first and last before each
// iteration: the same sequence, except that its first iteration already sees centred weights.
// Registry: {name: xnor, scale_grad: xnor | detached | magnitude_aware, latent_center: false,
// latent_clip: 0}.

#include <lowbit/csrc/ops/scaled_sign.h>
#include <lowbit/modules/quant/quantizer.h>

#include <torch/arg.h>

namespace lowbit::quant {

struct XnorOptions {
  TORCH_ARG(ops::ScaleGrad, scale_grad) = ops::ScaleGrad::Xnor;
  TORCH_ARG(bool, latent_center) = false;
  TORCH_ARG(double, latent_clip) = 0;
};

class XnorImpl : public QuantizerCloneable<XnorImpl> {
 public:
  explicit XnorImpl(XnorOptions options = {});
  void reset() override {}
  torch::Tensor forward(const torch::Tensor& w) override;
  int64_t bits() const override { return 1; }
  bool outputs_scaled_signs() const override { return true; }
  void check_shape(c10::IntArrayRef shape) const override;
  void settle_latent(torch::Tensor& weight) const override;
  bool settles_latent() const override { return options.latent_center() || options.latent_clip() > 0; }
  std::string registry_name() const override { return "xnor"; }
  Params config() const override;
  XnorOptions options;
};
TORCH_MODULE(Xnor);

}  // namespace lowbit::quant
