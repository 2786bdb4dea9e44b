#include <lowbit/modules/quant/ternary.h>

#include <lowbit/csrc/ops/sign.h>
#include <lowbit/csrc/ops/ternarize.h>
#include <lowbit/modules/quant/registry.h>

namespace lowbit::quant {

TernaryImpl::TernaryImpl(TernaryOptions options) : QuantizerCloneable("lowbit::quant::Ternary"), options(options) {
  TORCH_CHECK_VALUE(options.delta() > 0, "ternary: threshold factor delta must be > 0, got ", options.delta());
  TORCH_CHECK_VALUE(options.ste() != ops::Ste::ApproxSign, "ternary: the straight-through estimator must be identity "
                    "or clipped, got approx");
}

torch::Tensor TernaryImpl::forward(const torch::Tensor& w) {
  check_shape(w.sizes());
  return ops::ternarize(w, options.delta(), options.per_channel(), options.ste());
}

void TernaryImpl::check_shape(c10::IntArrayRef shape) const {
  TORCH_CHECK(!options.per_channel() || shape.size() >= 2,
              "ternary: per-channel ternarization expects a weight [C_out, ...] with at least 2 dims, got shape ", shape);
}

LOWBIT_REGISTER_QUANTIZER(ternary, [](ParamReader& p) {
  return Quantizer(Ternary(TernaryOptions()
                               .delta(p.get<double>("delta", 0.7))
                               .per_channel(p.get<bool>("per_channel", true))
                               .ste(ops::parse_ste(p.get<std::string>("ste", "identity")))));
});

}  // namespace lowbit::quant
