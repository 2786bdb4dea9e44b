#include <lowbit/modules/quant/adabin.h>

#include <lowbit/csrc/kernels/weight_quantizers.h>
#include <lowbit/csrc/ops/adabin.h>
#include <lowbit/csrc/util/suggest.h>
#include <lowbit/modules/quant/registry.h>

#include <torch/torch.h>

#include <cmath>

namespace lowbit::quant {

EdeStep ede_schedule(int64_t epoch, int64_t epochs, double t_min, double t_max) {
  TORCH_CHECK_VALUE(epochs >= 1 && epoch >= 0 && epoch < epochs, "adabin: EDE schedule epoch ", epoch,
                    " is outside [0, ", epochs, ")");
  const double lo = std::log10(t_min), hi = std::log10(t_max);
  const double t = std::pow(10.0, lo + (hi - lo) * static_cast<double>(epoch) / static_cast<double>(epochs));
  return {t < 1 ? 1 / t : 1.0, t};
}

AdaBinImpl::AdaBinImpl(AdaBinOptions options_) : QuantizerCloneable("lowbit::quant::AdaBin"), options(options_) {
  LOWBIT_CHECK_OPTION(options.k() > 0, "k", "adabin: k must be > 0, got ", options.k());
  LOWBIT_CHECK_OPTION(options.t() > 0, "t", "adabin: t must be > 0, got ", options.t());
  LOWBIT_CHECK_OPTION(options.t_min() > 0, "t_min", "adabin: the EDE schedule needs 0 < t_min, got ", options.t_min());
  LOWBIT_CHECK_OPTION(options.t_max() >= options.t_min(), "t_max", "adabin: the EDE schedule needs t_min <= t_max, got t_min = ",
                      options.t_min(), ", t_max = ", options.t_max());
  reset();
}

void AdaBinImpl::reset() {
  k = register_buffer("k", torch::tensor(options.k(), torch::kFloat));
  t = register_buffer("t", torch::tensor(options.t(), torch::kFloat));
}

void AdaBinImpl::check_shape(c10::IntArrayRef shape) const {
  TORCH_CHECK(shape.size() >= 2, "adabin: expects a weight [C_out, ...] with at least 2 dims, got shape ", shape);
}

torch::Tensor AdaBinImpl::forward(const torch::Tensor& w) {
  check_shape(w.sizes());
  return ops::adabin_weight(w, k, t);
}

std::optional<WeightGrid> AdaBinImpl::weight_grid(const torch::Tensor& w, const torch::Tensor& q) {
  (void)q;
  const auto [values, beta, alpha] = kernels::adabin_weight_forward(w.detach());
  return WeightGrid{alpha, beta, -1, 1};
}

void AdaBinImpl::on_epoch_begin(int64_t epoch, int64_t epochs) {
  if (!options.progressive()) return;
  const auto step = ede_schedule(epoch, epochs, options.t_min(), options.t_max());
  torch::NoGradGuard no_grad;
  k.fill_(step.k);
  t.fill_(step.t);
}

AdaBinActImpl::AdaBinActImpl(AdaBinActOptions options_)
    : QuantizerCloneable("lowbit::quant::AdaBinAct"), options(options_) {
  reset();
}

void AdaBinActImpl::reset() {
  alpha_a = register_parameter("alpha_a", torch::tensor(1.0f));
  beta_a = register_parameter("beta_a", torch::tensor(0.0f));
}

torch::Tensor AdaBinActImpl::forward(const torch::Tensor& x) {
  return ops::adabin_activation(x, alpha_a, beta_a, options.form() == AdaBinActForm::Code);
}

AdaBinActForm parse_adabin_act_form(const std::string& name) {
  return static_cast<AdaBinActForm>(util::choose("adabin_act form", name, {"code", "paper"}));
}

Params AdaBinImpl::config() const {
  const auto& o = options;
  return {{"k", o.k()}, {"t", o.t()}, {"progressive", o.progressive()}, {"t_min", o.t_min()}, {"t_max", o.t_max()}};
}

Params AdaBinActImpl::config() const {
  return {{"form", std::string(options.form() == AdaBinActForm::Code ? "code" : "paper")}};
}

LOWBIT_REGISTER_QUANTIZER(adabin, [](ParamReader& p) {
  const AdaBinOptions defaults;
  return Quantizer(AdaBin(AdaBinOptions()
                              .k(p.get<double>("k", defaults.k()))
                              .t(p.get<double>("t", defaults.t()))
                              .progressive(p.get<bool>("progressive", defaults.progressive()))
                              .t_min(p.get<double>("t_min", defaults.t_min()))
                              .t_max(p.get<double>("t_max", defaults.t_max()))));
});

LOWBIT_REGISTER_QUANTIZER(adabin_act, [](ParamReader& p) {
  return Quantizer(AdaBinAct(AdaBinActOptions().form(p.parsed("form", "code", parse_adabin_act_form))));
});

}  // namespace lowbit::quant
