#include <lowbit/modules/quant/dorefa.h>

#include <lowbit/csrc/ops/dorefa.h>
#include <lowbit/csrc/util/suggest.h>
#include <lowbit/modules/quant/registry.h>

namespace lowbit::quant {

DorefaImpl::DorefaImpl(DorefaOptions options) : QuantizerCloneable("lowbit::quant::Dorefa"), options(options) {
  LOWBIT_CHECK_OPTION(options.bits() >= 1 && options.bits() <= 32, "bits", "dorefa: bits must be in [1, 32], got ",
                      options.bits());
}

torch::Tensor DorefaImpl::forward(const torch::Tensor& x) {
  return options.target() == DorefaTarget::Weight ? ops::dorefa_weight(x, options.bits())
                                                  : ops::dorefa_activation(x, options.bits());
}

std::optional<WeightGrid> DorefaImpl::weight_grid(const torch::Tensor& w, const torch::Tensor& q) {
  (void)w;
  if (options.target() != DorefaTarget::Weight) return std::nullopt;
  if (options.bits() == 1) return WeightGrid{q.abs().amax(), {}, -1, 1};
  const int64_t levels = (int64_t{1} << options.bits()) - 1;
  const float two_over_levels = 2.0f / static_cast<float>(levels);  // the kernels' scalar (ops/weight_math.h)
  const auto on_q = q.options().dtype(torch::kFloat);  // the weight's device
  return WeightGrid{torch::full({1}, two_over_levels, on_q), torch::full({1}, -1.0f, on_q), 0, levels};
}

Params DorefaImpl::config() const {
  return {{"bits", options.bits()},
          {"target", std::string(options.target() == DorefaTarget::Weight ? "weight" : "activation")}};
}

LOWBIT_REGISTER_QUANTIZER(dorefa, [](ParamReader& p) {
  const auto target = p.choice("target", "weight", {"weight", "activation"});
  return Quantizer(Dorefa(DorefaOptions(p.require<int64_t>("bits")).target(static_cast<DorefaTarget>(target))));
});

}  // namespace lowbit::quant
