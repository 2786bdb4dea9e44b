#include <lowbit/modules/quant/rbonn.h>

#include <lowbit/csrc/ops/bilinear_sign.h>
#include <lowbit/csrc/ops/loss_scale.h>
#include <lowbit/csrc/util/suggest.h>
#include <lowbit/modules/hooks/replicas.h>
#include <lowbit/modules/quant/registry.h>

#include <torch/torch.h>

namespace lowbit::quant {
namespace {

const std::vector<std::string> kDreluSelectNames = {"official_argsort", "paper_rank"};

void check_tau(double tau) { LOWBIT_CHECK_OPTION(tau > 0 && tau <= 1, "tau", "rbonn: tau must be in (0, 1], got ", tau); }

}  // namespace

DreluSelect parse_drelu_select(const std::string& name) {
  return static_cast<DreluSelect>(util::choose("rbonn drelu_select", name, kDreluSelectNames));
}

int64_t drelu_count(int64_t channels, double tau) {
  check_tau(tau);
  return static_cast<int64_t>(static_cast<double>(channels) * (1.0 - tau));  // Python's int(C * (1 - thre))
}

torch::Tensor drelu_indicator(const torch::Tensor& alpha, double tau, DreluSelect select) {
  const auto a = alpha.detach().flatten();
  const int64_t k = drelu_count(a.numel(), tau);
  // Stable, so that tied scales select the same channels on every device.
  const auto order = std::get<1>(a.sort(/*stable=*/true, /*dim=*/0, /*descending=*/false));
  if (select == DreluSelect::OfficialArgsort) return (order < k).to(a.scalar_type());
  return torch::zeros_like(a).index_fill_(0, order.slice(0, 0, k), 1);
}

RbonnImpl::RbonnImpl(RbonnOptions options_) : QuantizerCloneable("lowbit::quant::Rbonn"), options(options_) {
  const auto& o = options;
  LOWBIT_CHECK_OPTION(o.channels() >= 1, "channels", "rbonn: channels must be >= 1, got ", o.channels());
  LOWBIT_CHECK_OPTION(o.kappa() > 0, "kappa", "rbonn: kappa must be > 0, got ", o.kappa());
  LOWBIT_CHECK_OPTION(o.lambda() >= 0, "lambda", "rbonn: lambda must be >= 0, got ", o.lambda());
  check_tau(o.tau());
  reset();
}

void RbonnImpl::reset() {
  const auto c = options.channels();
  scale_factor = register_parameter("scale_factor", torch::randn({c, 1, 1, 1}));
  u = register_parameter("u", torch::full({c, 1, 1, 1}, 0.2));
  previous_grad = register_buffer("previous_grad", torch::empty({0}));
}

void RbonnImpl::check_shape(c10::IntArrayRef shape) const {
  TORCH_CHECK(shape.size() >= 2 && shape[0] == options.channels(), "rbonn: scale_factor has ", options.channels(),
              " channels, but the weight has shape ", shape, " (output channels along dim 0)");
}

void RbonnImpl::settle() {
  if (!*pending_) return;
  torch::NoGradGuard no_grad;
  if (!previous_grad.is_contiguous()) previous_grad.set_data(previous_grad.contiguous());  // for the collective
  hooks::all_reduce_(previous_grad, hooks::ReduceOp::Mean);
  *pending_ = false;
}

torch::Tensor RbonnImpl::forward(const torch::Tensor& w) {
  check_shape(w.sizes());
  const auto binarization = ops::BilinearSignOptions().kappa(options.kappa()).scale_sign_grad(true);
  if (!is_training() || !options.recurrent()) {
    return ops::bilinear_sign(w, scale_factor, options.lambda(), binarization);
  }
  settle();
  ops::Recurrence recurrence;
  if (previous_grad.sizes() == w.sizes() && drelu_count(options.channels(), options.tau()) > 0) {
    // u m G_prev as (u m) G_prev: m is 0 or 1, the same numbers.
    recurrence.c = u.flatten() * drelu_indicator(scale_factor.detach().abs(), options.tau(), options.drelu_select());
    recurrence.p = previous_grad;
  }
  const bool shift_learns = recurrence.c.defined() && recurrence.c.requires_grad();
  if (torch::GradMode::is_enabled() && (w.requires_grad() || shift_learns)) {
    // Decided here: the backward may run on an autograd device thread, which has no replicas() of its own.
    const auto* replicas = hooks::replicas();
    const bool replicated = replicas != nullptr && replicas->world_size() > 1;
    recurrence.record = [g_prev = previous_grad, pending = pending_, replicated](const torch::Tensor& unscaled) {
      // Only a scaled backward can overflow where the unscaled one would not: a pass over the record then.
      g_prev.set_data(ops::loss_scale() == 1.0 ? unscaled : ops::finite_record(unscaled, g_prev));
      *pending = replicated;
    };
  }
  return ops::recurrent_bilinear_sign(w, scale_factor, torch::scalar_tensor(options.lambda(), torch::kDouble),
                                      binarization, recurrence);
}

void RbonnImpl::pretty_print(std::ostream& stream) const {
  stream << "lowbit::quant::Rbonn(channels=" << options.channels() << ", kappa=" << options.kappa()
         << ", lambda=" << options.lambda() << ", tau=" << options.tau()
         << ", drelu_select=" << kDreluSelectNames.at(static_cast<size_t>(options.drelu_select()))
         << ", recurrent=" << options.recurrent() << ")";
}

Params RbonnImpl::config() const {
  const auto& o = options;
  return {{"channels", o.channels()},
          {"kappa", o.kappa()},
          {"lambda", o.lambda()},
          {"tau", o.tau()},
          {"drelu_select", kDreluSelectNames.at(static_cast<size_t>(o.drelu_select()))},
          {"recurrent", o.recurrent()}};
}

LOWBIT_REGISTER_CHANNEL_QUANTIZER(rbonn, [](ParamReader& p) {
  RbonnOptions o(p.require<int64_t>("channels"));
  return Quantizer(Rbonn(o.kappa(p.get<double>("kappa", o.kappa()))
                             .lambda(p.get<double>("lambda", o.lambda()))
                             .tau(p.get<double>("tau", o.tau()))
                             .drelu_select(p.parsed("drelu_select", "official_argsort", parse_drelu_select))
                             .recurrent(p.get<bool>("recurrent", o.recurrent()))));
});

}  // namespace lowbit::quant
