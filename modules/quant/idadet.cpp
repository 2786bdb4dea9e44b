#include <lowbit/modules/quant/idadet.h>

#include <lowbit/csrc/ops/bilinear_sign.h>
#include <lowbit/modules/quant/registry.h>

#include <torch/torch.h>

namespace lowbit::quant {

IdaDetImpl::IdaDetImpl(IdaDetOptions options_) : QuantizerCloneable("lowbit::quant::IdaDet"), options(options_) {
  LOWBIT_CHECK_OPTION(options.channels() >= 1, "channels", "idadet: channels must be >= 1, got ", options.channels());
  LOWBIT_CHECK_OPTION(options.kappa() > 0, "kappa", "idadet: kappa must be > 0, got ", options.kappa());
  LOWBIT_CHECK_OPTION(options.mu() >= 0, "mu", "idadet: mu must be >= 0, got ", options.mu());
  reset();
}

void IdaDetImpl::reset() { scale = register_parameter("scale", torch::randn({options.channels(), 1, 1, 1})); }

void IdaDetImpl::check_shape(c10::IntArrayRef shape) const {
  TORCH_CHECK(shape.size() >= 2 && shape[0] == options.channels(), "idadet: scale has ", options.channels(),
              " channels, but the weight has shape ", shape, " (output channels along dim 0)");
}

torch::Tensor IdaDetImpl::forward(const torch::Tensor& w) {
  check_shape(w.sizes());
  return ops::bilinear_sign(w, scale, options.mu(),
                            ops::BilinearSignOptions().kappa(options.kappa()).scale_sign_grad(false));
}

void IdaDetImpl::pretty_print(std::ostream& stream) const {
  stream << "lowbit::quant::IdaDet(channels=" << options.channels() << ", kappa=" << options.kappa()
         << ", mu=" << options.mu() << ")";
}

Params IdaDetImpl::config() const {
  return {{"channels", options.channels()}, {"kappa", options.kappa()}, {"mu", options.mu()}};
}

LOWBIT_REGISTER_CHANNEL_QUANTIZER(idadet, [](ParamReader& p) {
  IdaDetOptions o(p.require<int64_t>("channels"));
  return Quantizer(IdaDet(o.kappa(p.get<double>("kappa", o.kappa())).mu(p.get<double>("mu", o.mu()))));
});

}  // namespace lowbit::quant
