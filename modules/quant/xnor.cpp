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

Params XnorImpl::config() const { return {{"scale_grad", ops::to_string(options.scale_grad())}}; }

LOWBIT_REGISTER_QUANTIZER(xnor, [](ParamReader& p) {
  return Quantizer(Xnor(XnorOptions().scale_grad(p.parsed("scale_grad", "xnor", ops::parse_scale_grad))));
});

}  // namespace lowbit::quant
