#include <lowbit/modules/quant/sign.h>

#include <lowbit/csrc/ops/sign.h>
#include <lowbit/modules/quant/registry.h>

namespace lowbit::quant {

SignImpl::SignImpl(SignOptions options) : QuantizerCloneable("lowbit::quant::Sign"), options(options) {}

torch::Tensor SignImpl::forward(const torch::Tensor& x) { return ops::sign(x, options.ste()); }

Params SignImpl::config() const { return {{"ste", ops::to_string(options.ste())}}; }

LOWBIT_REGISTER_QUANTIZER(sign, [](ParamReader& p) {
  return Quantizer(Sign(SignOptions().ste(p.parsed("ste", "clipped", ops::parse_ste))));
});

}  // namespace lowbit::quant
