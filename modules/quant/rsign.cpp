#include <lowbit/modules/quant/rsign.h>

#include <lowbit/csrc/ops/shifted_sign.h>
#include <lowbit/modules/quant/registry.h>

#include <torch/torch.h>

namespace lowbit::quant {

RSignImpl::RSignImpl(RSignOptions options) : QuantizerCloneable("lowbit::quant::RSign"), options(options) {
  LOWBIT_CHECK_OPTION(options.channels() >= 1, "channels", "rsign: channels must be >= 1, got ", options.channels());
  reset();
}

void RSignImpl::reset() { bias = register_parameter("bias", torch::zeros({1, options.channels(), 1, 1})); }

void RSignImpl::check_shape(c10::IntArrayRef shape) const {
  TORCH_CHECK(shape.size() >= 2 && shape[1] == options.channels(), "rsign threshold has ", options.channels(),
              " channels, but the input shape is ", shape, " (channels along dim 1)");
}

torch::Tensor RSignImpl::forward(const torch::Tensor& x) {
  check_shape(x.sizes());
  return ops::shifted_sign(x, bias, ops::Ste::ApproxSign);
}

Params RSignImpl::config() const { return {{"channels", options.channels()}}; }

LOWBIT_REGISTER_CHANNEL_QUANTIZER(rsign, [](ParamReader& p) { return Quantizer(RSign(p.require<int64_t>("channels"))); });

}  // namespace lowbit::quant
