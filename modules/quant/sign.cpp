#include <lowbit/modules/quant/sign.h>

#include <lowbit/csrc/ops/sign.h>
#include <lowbit/modules/quant/registry.h>

namespace lowbit::quant {

SignImpl::SignImpl(SignOptions options) : QuantizerCloneable("lowbit::quant::Sign"), options(options) {}

torch::Tensor SignImpl::forward(const torch::Tensor& x) { return ops::sign(x, options.ste()); }

void SignImpl::settle_latent(torch::Tensor& weight) const {
  if (options.latent_clip() > 0) weight.clamp_(-options.latent_clip(), options.latent_clip());
}

Params SignImpl::config() const {
  return {{"ste", ops::to_string(options.ste())}, {"latent_clip", options.latent_clip()}};
}

LOWBIT_REGISTER_QUANTIZER(sign, [](ParamReader& p) {
  const auto ste = p.parsed("ste", "clipped", ops::parse_ste);
  return Quantizer(Sign(SignOptions().ste(ste).latent_clip(read_latent_clip(p))));
});

}  // namespace lowbit::quant
