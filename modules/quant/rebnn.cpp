#include <lowbit/modules/quant/rebnn.h>

#include <lowbit/csrc/ops/bilinear_sign.h>
#include <lowbit/csrc/ops/loss_scale.h>
#include <lowbit/csrc/util/suggest.h>
#include <lowbit/modules/hooks/replicas.h>
#include <lowbit/modules/quant/registry.h>

#include <torch/torch.h>

namespace lowbit::quant {
namespace {

const std::vector<std::string> kGammaModeNames = {"official_constant", "paper_dynamic"};

}  // namespace

GammaMode parse_gamma_mode(const std::string& name) {
  return static_cast<GammaMode>(util::choose("rebnn gamma_mode", name, kGammaModeNames));
}

ReBnnImpl::ReBnnImpl(ReBnnOptions options_) : QuantizerCloneable("lowbit::quant::ReBnn"), options(options_) {
  const auto& o = options;
  LOWBIT_CHECK_OPTION(o.channels() >= 1, "channels", "rebnn: channels must be >= 1, got ", o.channels());
  LOWBIT_CHECK_OPTION(o.kappa() > 0, "kappa", "rebnn: kappa must be > 0, got ", o.kappa());
  LOWBIT_CHECK_OPTION(o.gamma() >= 0, "gamma", "rebnn: gamma must be >= 0, got ", o.gamma());
  LOWBIT_CHECK_OPTION(o.gamma_min() >= 0 && o.gamma_min() <= o.gamma_max(), "gamma_min",
                      "rebnn: needs 0 <= gamma_min <= gamma_max, got gamma_min ", o.gamma_min(), ", gamma_max ",
                    o.gamma_max());
  reset();
}

void ReBnnImpl::reset() {
  const auto c = options.channels();
  scaling_factor = register_parameter("scaling_factor", torch::randn({c, 1, 1, 1}));
  if (options.gamma_mode() == GammaMode::PaperDynamic) {
    previous_sign = register_buffer("previous_sign", torch::empty({0}));
    previous_grad_max = register_buffer("previous_grad_max", torch::zeros({c}));
    balanced_gamma = register_buffer("balanced_gamma", torch::zeros({c}));
  }
}

void ReBnnImpl::check_shape(c10::IntArrayRef shape) const {
  TORCH_CHECK(shape.size() >= 2 && shape[0] == options.channels(), "rebnn: scaling_factor has ", options.channels(),
              " channels, but the weight has shape ", shape, " (output channels along dim 0)");
}

torch::Tensor ReBnnImpl::dynamic_gamma(const torch::Tensor& w) {
  torch::NoGradGuard no_grad;
  const auto current = torch::sign(w.detach());
  const auto flipped_fraction = previous_sign.sizes() == current.sizes()
                                    ? (previous_sign * current <= 0).flatten(1).to(w.scalar_type()).mean(1)
                                    : torch::zeros({options.channels()}, w.options());
  auto gamma = flipped_fraction * previous_grad_max;
  if (options.clamp_gamma()) gamma = gamma.clamp(options.gamma_min(), options.gamma_max());
  balanced_gamma.copy_(gamma);
  previous_sign.set_data(current);
  return gamma;
}

torch::Tensor ReBnnImpl::forward(const torch::Tensor& w) {
  check_shape(w.sizes());
  const ops::BilinearSignOptions bilinear = ops::BilinearSignOptions().kappa(options.kappa()).scale_sign_grad(true);
  if (options.gamma_mode() == GammaMode::OfficialConstant) {
    return ops::bilinear_sign(w, scaling_factor, options.gamma(), bilinear);
  }
  if (is_training()) settle();
  const bool training_step = is_training() && torch::GradMode::is_enabled();
  // A copy of the buffer, as the backward saves gamma and a later training forward rewrites it.
  auto out = ops::bilinear_sign(w, scaling_factor, training_step ? dynamic_gamma(w) : balanced_gamma.clone(), bilinear);
  if (training_step && out.requires_grad()) {
    // Decided here: the hook may run on an autograd device thread, which has no replicas() of its own.
    const auto* replicas = hooks::replicas();
    const bool replicated = replicas != nullptr && replicas->world_size() > 1;
    out.register_hook([grad_max = previous_grad_max, pending = pending_grad_, replicated](const torch::Tensor& g) {
      const auto unscaled = g.detach() / ops::loss_scale();  // ops/loss_scale.h
      grad_max.set_data(ops::finite_record(unscaled.abs().flatten(1).amax(1), grad_max));
      *pending = replicated ? unscaled.contiguous() : torch::Tensor();
    });
  }
  return out;
}

void ReBnnImpl::settle() {
  if (!pending_grad_->defined()) return;
  torch::NoGradGuard no_grad;
  auto grad = std::move(*pending_grad_);
  *pending_grad_ = torch::Tensor();
  hooks::all_reduce_(grad, hooks::ReduceOp::Mean);
  previous_grad_max.set_data(ops::finite_record(grad.abs().flatten(1).amax(1), previous_grad_max));
}

void ReBnnImpl::pretty_print(std::ostream& stream) const {
  stream << "lowbit::quant::ReBnn(channels=" << options.channels() << ", kappa=" << options.kappa()
         << ", gamma_mode=" << kGammaModeNames.at(static_cast<size_t>(options.gamma_mode())) << ")";
}

Params ReBnnImpl::config() const {
  const auto& o = options;
  return {{"channels", o.channels()},
          {"kappa", o.kappa()},
          {"gamma_mode", kGammaModeNames.at(static_cast<size_t>(o.gamma_mode()))},
          {"gamma", o.gamma()},
          {"clamp_gamma", o.clamp_gamma()},
          {"gamma_min", o.gamma_min()},
          {"gamma_max", o.gamma_max()}};
}

LOWBIT_REGISTER_CHANNEL_QUANTIZER(rebnn, [](ParamReader& p) {
  ReBnnOptions o(p.require<int64_t>("channels"));
  return Quantizer(ReBnn(o.kappa(p.get<double>("kappa", o.kappa()))
                             .gamma_mode(p.parsed("gamma_mode", "official_constant", parse_gamma_mode))
                             .gamma(p.get<double>("gamma", o.gamma()))
                             .clamp_gamma(p.get<bool>("clamp_gamma", o.clamp_gamma()))
                             .gamma_min(p.get<double>("gamma_min", o.gamma_min()))
                             .gamma_max(p.get<double>("gamma_max", o.gamma_max()))));
});

}  // namespace lowbit::quant
