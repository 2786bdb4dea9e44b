#include <lowbit/modules/quant/ternary.h>

#include <lowbit/csrc/ops/lsq.h>
#include <lowbit/csrc/ops/sign.h>
#include <lowbit/csrc/ops/ternarize.h>
#include <lowbit/csrc/util/suggest.h>
#include <lowbit/modules/quant/registry.h>

#include <torch/torch.h>

#include <cmath>

namespace lowbit::quant {
namespace {

const std::vector<std::string> kScaleNames = {"twn", "learnable"};

bool learnable(const TernaryOptions& o) { return o.scale() == TernaryScale::Learnable; }

}  // namespace

TernaryImpl::TernaryImpl(TernaryOptions options) : QuantizerCloneable("lowbit::quant::Ternary"), options(options) {
  LOWBIT_CHECK_OPTION(options.delta() > 0, "delta", "ternary: threshold factor delta must be > 0, got ", options.delta());
  LOWBIT_CHECK_OPTION(options.ste() != ops::Ste::ApproxSign, "ste", "ternary: the straight-through estimator must be identity "
                    "or clipped, got approx");
  LOWBIT_CHECK_OPTION(!learnable(options) || options.ste() == ops::Ste::Identity, "ste",
                      "ternary: ste applies to scale: twn only; scale: learnable has LSQ's gradient (passes inside "
                    "[-alpha, alpha])");
  LOWBIT_CHECK_OPTION(options.channels() >= 1, "channels", "ternary: channels must be >= 1, got ", options.channels());
  LOWBIT_CHECK_OPTION(!learnable(options) || options.per_channel() || options.channels() == 1, "channels",
                      "ternary: scale: learnable with per_channel: false has one alpha; channels must be 1, got ",
                    options.channels());
  reset();
}

void TernaryImpl::reset() {
  if (!learnable(options)) return;
  alpha = register_parameter("alpha", torch::ones({options.per_channel() ? options.channels() : 1}));
  initialized = register_buffer("initialized", torch::zeros({}, torch::kBool));
  initialized_flag_ = HostFlag();
}

void TernaryImpl::initialize_from(const torch::Tensor& w) {
  TORCH_CHECK(learnable(options), "ternary: only scale: learnable has a state to initialise");
  torch::NoGradGuard no_grad;
  const auto twn = ops::ternary_scale(w.detach().to(alpha.scalar_type()), options.delta(), options.per_channel());
  // An all-zero channel has alpha 0; LSQ divides by alpha, so keep it positive (as lsq's step).
  alpha.copy_(twn.alpha.reshape({-1}).clamp_min(1e-8).expand(alpha.sizes()));
  initialized.fill_(true);
}

torch::Tensor TernaryImpl::forward(const torch::Tensor& w) {
  check_shape(w.sizes());
  if (!learnable(options)) return ops::ternarize(w, options.delta(), options.per_channel(), options.ste());
  if (!initialized_flag_.get(initialized)) initialize_from(w);
  const ops::LsqRange levels{1, 1};  // round(clamp(u, -1, 1)) in {-1, 0, 1}
  return ops::lsq_quantize(w, alpha, torch::Tensor(), levels, 1.0 / std::sqrt(static_cast<double>(w.numel())), 0);
}

void TernaryImpl::check_shape(c10::IntArrayRef shape) const {
  TORCH_CHECK(!options.per_channel() || shape.size() >= 2,
              "ternary: per-channel ternarization expects a weight [C_out, ...] with at least 2 dims, got shape ", shape);
  TORCH_CHECK(!learnable(options) || !options.per_channel() || shape[0] == alpha.size(0), "ternary: learnable alpha has ",
              alpha.size(0), " channels, the weight ", shape[0], " output channels (shape ", shape, ")");
}

void TernaryImpl::pretty_print(std::ostream& stream) const {
  stream << "lowbit::quant::Ternary(scale=" << kScaleNames[static_cast<size_t>(options.scale())]
         << ", delta=" << options.delta() << ", per_channel=" << options.per_channel() << ")";
}

Params TernaryImpl::config() const {
  const auto& o = options;
  return {{"scale", kScaleNames.at(static_cast<size_t>(o.scale()))},
          {"delta", o.delta()},
          {"per_channel", o.per_channel()},
          {"channels", o.channels()},
          {"ste", ops::to_string(o.ste())}};
}

LOWBIT_REGISTER_CHANNEL_QUANTIZER(ternary, [](ParamReader& p) {
  const auto scale = static_cast<TernaryScale>(p.choice("scale", "twn", kScaleNames));
  const bool per_channel = p.get<bool>("per_channel", true);
  // The QuantPolicy always fills `channels`; only a per-channel learnable alpha uses it.
  const auto channels = p.get<int64_t>("channels", 1);
  return Quantizer(Ternary(TernaryOptions()
                               .scale(scale)
                               .delta(p.get<double>("delta", 0.7))
                               .per_channel(per_channel)
                               .channels(scale == TernaryScale::Learnable && per_channel ? channels : 1)
                               .ste(p.parsed("ste", "identity", ops::parse_ste))));
});

}  // namespace lowbit::quant
