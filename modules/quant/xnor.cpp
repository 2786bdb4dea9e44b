#include <lowbit/modules/quant/xnor.h>

#include <lowbit/modules/quant/registry.h>

namespace lowbit::quant {

XnorImpl::XnorImpl(XnorOptions options) : QuantizerCloneable("lowbit::quant::Xnor"), options(options) {}

torch::Tensor XnorImpl::forward(const torch::Tensor& w) {
  check_shape(w.sizes());
  return ops::scaled_sign(w, options.scale_grad());
}

void XnorImpl::check_shape(c10::IntArrayRef shape) const {
  TORCH_CHECK(shape.size() >= 2, "xnor: expects a weight [C_out, ...] with at least 2 dims, got shape ", shape);
}

void XnorImpl::settle_latent(torch::Tensor& weight) const {
  if (options.latent_center()) weight.sub_(weight.mean(1, /*keepdim=*/true));
  if (options.latent_clip() > 0) weight.clamp_(-options.latent_clip(), options.latent_clip());
}

Params XnorImpl::config() const {
  return {{"scale_grad", ops::to_string(options.scale_grad())},
          {"latent_center", options.latent_center()},
          {"latent_clip", options.latent_clip()}};
}

LOWBIT_REGISTER_QUANTIZER(xnor, [](ParamReader& p) {
  const double clip = p.get<double>("latent_clip", 0.0);
  p.check(clip >= 0, "latent_clip", "expected a non-negative number (0: off), got " + c10::str(clip));
  return Quantizer(Xnor(XnorOptions()
                            .scale_grad(p.parsed("scale_grad", "xnor", ops::parse_scale_grad))
                            .latent_center(p.get<bool>("latent_center", false))
                            .latent_clip(clip)));
});

}  // namespace lowbit::quant
