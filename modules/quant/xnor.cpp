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
  TORCH_CHECK(!options.latent_center() || shape[1] > 1,
              "xnor: latent_center subtracts the mean over the input channels (dim 1), which would zero a weight of "
              "one input channel, got shape ", shape);
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
  return Quantizer(Xnor(XnorOptions()
                            .scale_grad(p.parsed("scale_grad", "xnor", ops::parse_scale_grad))
                            .latent_center(p.get<bool>("latent_center", false))
                            .latent_clip(read_latent_clip(p))));
});

}  // namespace lowbit::quant
