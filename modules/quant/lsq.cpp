#include <lowbit/modules/quant/lsq.h>

#include <lowbit/csrc/ops/lsq.h>
#include <lowbit/csrc/util/suggest.h>
#include <lowbit/modules/hooks/replicas.h>
#include <lowbit/modules/quant/registry.h>

#include <torch/torch.h>

#include <cmath>
#include <utility>

namespace lowbit::quant {
namespace {

const std::vector<std::string> kInitNames = {"mean_abs", "three_sigma", "min_max"};

// Dims to reduce over for the initial statistics: all but channel_dim for per-channel ones.
std::vector<int64_t> reduce_dims(const torch::Tensor& x, const LsqOptions& options) {
  std::vector<int64_t> dims;
  const bool per_channel = options.per_channel() && options.init_per_channel();
  const int64_t channel_dim = per_channel ? c10::maybe_wrap_dim(options.channel_dim(), x.dim()) : -1;
  for (int64_t d = 0; d < x.dim(); ++d) {
    if (d != channel_dim) dims.push_back(d);
  }
  return dims;
}

bool replicated() {
  const auto* replicas = hooks::replicas();
  return replicas != nullptr && replicas->world_size() > 1;
}

// Mean and population std over `dims`; with replicas, of the whole batch: E[x] and E[x²] (from each
// share's own var_mean, in double) averaged over the replicas, sigma = sqrt(E[x²] - E[x]²).
std::pair<torch::Tensor, torch::Tensor> mean_and_std(const torch::Tensor& v, const std::vector<int64_t>& dims) {
  if (!replicated()) return {v.mean(dims), v.std(dims, /*unbiased=*/false)};
  const auto [var, mean] = torch::var_mean(v, dims, /*correction=*/0, /*keepdim=*/false);
  const auto mean64 = mean.to(torch::kDouble);
  auto moments = torch::stack({mean64, var.to(torch::kDouble) + mean64.square()});
  hooks::all_reduce_(moments, hooks::ReduceOp::Mean);
  const auto sigma = (moments[1] - moments[0].square()).clamp_min(0).sqrt();
  return {moments[0].to(v.scalar_type()), sigma.to(v.scalar_type())};
}

// `local` (a statistic of this replica's share) reduced over the replicas by `op`.
torch::Tensor over_replicas(torch::Tensor local, hooks::ReduceOp op) {
  hooks::all_reduce_(local, op);
  return local;
}

}  // namespace

LsqImpl::LsqImpl(LsqOptions options_) : QuantizerCloneable("lowbit::quant::Lsq"), options(std::move(options_)) {
  LOWBIT_CHECK_OPTION(options.bits() >= 1 && options.bits() <= 32, "bits", "lsq: bits must be in [1, 32], got ", options.bits());
  LOWBIT_CHECK_OPTION(options.per_channel() ? options.channels() >= 1 : options.channels() == 1, "channels",
                      "lsq: channels must be >= 1 with per_channel, and 1 (the default) without; got ", options.channels());
  reset();
}

void LsqImpl::reset() {
  const int64_t n = options.per_channel() ? options.channels() : 1;
  step = register_parameter("step", torch::ones({n}));
  offset = options.offset() ? register_parameter("offset", torch::zeros({n})) : torch::Tensor();
  initialized = register_buffer("initialized", torch::zeros({}, torch::kBool));
  initialized_flag_ = HostFlag();
}

void LsqImpl::check_shape(c10::IntArrayRef shape) const {
  if (!options.per_channel()) return;
  const auto dim = options.channel_dim();
  TORCH_CHECK(dim >= -static_cast<int64_t>(shape.size()) && dim < static_cast<int64_t>(shape.size()),
              "lsq: channel_dim ", dim, " is out of range for input shape ", shape);
  const auto wanted = shape[c10::maybe_wrap_dim(dim, shape.size())];
  TORCH_CHECK(wanted == step.size(0), "lsq per-channel step has shape ", step.sizes(), ", expected [", wanted,
              "] for input shape ", shape, " (channel_dim ", dim, ")");
}

void LsqImpl::initialize_from(const torch::Tensor& x) {
  torch::NoGradGuard no_grad;
  const auto range = ops::lsq_range(options.bits(), options.is_signed());
  const auto v = x.detach().to(step.scalar_type());
  const auto dims = reduce_dims(v, options);
  torch::Tensor new_step, new_offset = torch::zeros_like(step);
  switch (options.init()) {
    case LsqInit::MeanAbs:
      new_step =
          2 * over_replicas(v.abs().mean(dims), hooks::ReduceOp::Mean) / std::sqrt(static_cast<double>(range.qp));
      break;
    case LsqInit::ThreeSigma: {
      const auto [mu, sigma] = mean_and_std(v, dims);
      new_step = torch::max((mu - 3 * sigma).abs(), (mu + 3 * sigma).abs()) / std::ldexp(1.0, options.bits() - 1);
      break;
    }
    case LsqInit::MinMax: {
      const auto lo = over_replicas(v.amin(dims), hooks::ReduceOp::Min);
      const auto hi = over_replicas(v.amax(dims), hooks::ReduceOp::Max);
      new_step = (hi - lo) / static_cast<double>(range.qn + range.qp);
      new_offset = lo + static_cast<double>(range.qn) * new_step;
      break;
    }
  }
  step.copy_(new_step.clamp_min(1e-8).expand(step.sizes()));
  if (offset.defined()) offset.copy_(new_offset.expand(offset.sizes()));
  initialized.fill_(true);
}

torch::Tensor LsqImpl::forward(const torch::Tensor& x) { return forward_with_grid(x).values; }

QuantizedTensor LsqImpl::forward_with_grid(const torch::Tensor& x) {
  check_shape(x.sizes());
  if (!initialized_flag_.get(initialized)) initialize_from(x);
  auto grid = *uniform_grid();
  const double grad_scale =
      1.0 / std::sqrt(static_cast<double>(hooks::batch_numel(x)) * static_cast<double>(grid.range.qp));
  return {ops::lsq_quantize(x, step, offset, grid.range, grad_scale, grid.channel_dim), std::move(grid)};
}

std::optional<ops::LsqGrid> LsqImpl::uniform_grid() {
  TORCH_CHECK(initialized_flag_.get(initialized), name(),
              ": the step is not initialised yet (the first forward sets it from its input): train or load the model "
              "before exporting it");
  return ops::LsqGrid{step.detach(), offset.defined() ? offset.detach() : torch::Tensor(),
                      ops::lsq_range(options.bits(), options.is_signed()),
                      options.per_channel() ? options.channel_dim() : 0};
}

void LsqImpl::pretty_print(std::ostream& stream) const {
  stream << "lowbit::quant::Lsq(bits=" << options.bits() << ", signed=" << options.is_signed()
         << ", per_channel=" << options.per_channel() << ", offset=" << options.offset() << ")";
}

Params LsqImpl::config() const {
  const auto& o = options;
  return {{"bits", o.bits()},
          {"signed", o.is_signed()},
          {"per_channel", o.per_channel()},
          {"channels", o.channels()},
          {"channel_dim", o.channel_dim()},
          {"offset", o.offset()},
          {"init_per_channel", o.init_per_channel()},
          {"init", kInitNames.at(static_cast<size_t>(o.init()))}};
}

namespace {

// The options in `p`, each defaulting to its value in `defaults` (bits has none: required).
Quantizer make_lsq(ParamReader& p, const LsqOptions& defaults) {
  const auto& init = kInitNames.at(static_cast<size_t>(defaults.init()));
  return Lsq(LsqOptions(p.require<int64_t>("bits"))
                 .is_signed(p.get<bool>("signed", defaults.is_signed()))
                 .per_channel(p.get<bool>("per_channel", defaults.per_channel()))
                 .channels(p.get<int64_t>("channels", defaults.channels()))
                 .channel_dim(p.get<int64_t>("channel_dim", defaults.channel_dim()))
                 .offset(p.get<bool>("offset", defaults.offset()))
                 .init_per_channel(p.get<bool>("init_per_channel", defaults.init_per_channel()))
                 .init(static_cast<LsqInit>(p.choice("init", init, kInitNames))));
}

}  // namespace

// lsq: signed, step from mean |x| (LSQ); lsq_plus: unsigned with a learnable offset, step and
// offset from min / max (LSQ+).
LOWBIT_REGISTER_QUANTIZER(lsq, [](ParamReader& p) { return make_lsq(p, LsqOptions(0)); });
LOWBIT_REGISTER_QUANTIZER(lsq_plus, [](ParamReader& p) {
  return make_lsq(p, LsqOptions(0).is_signed(false).offset(true).init(LsqInit::MinMax));
});

}  // namespace lowbit::quant
