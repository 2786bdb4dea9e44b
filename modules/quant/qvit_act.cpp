#include <lowbit/modules/quant/qvit_act.h>

#include <lowbit/csrc/ops/dorefa.h>
#include <lowbit/csrc/ops/lsq.h>
#include <lowbit/modules/hooks/replicas.h>
#include <lowbit/modules/quant/registry.h>

#include <torch/torch.h>

#include <cmath>

namespace lowbit::quant {
namespace {

// The code of a b-bit ActQ: ActBi's signed sign code at 1 bit whatever the input's sign.
ops::LsqRange range_of(int64_t bits, bool is_signed) { return ops::lsq_range(bits, is_signed || bits == 1); }

}  // namespace

QvitActImpl::QvitActImpl(QvitActOptions options_)
    : QuantizerCloneable("lowbit::quant::QvitAct"), options(std::move(options_)) {
  LOWBIT_CHECK_OPTION(options.bits() >= 1 && options.bits() <= 16, "bits", "qvit_act: bits must be in [1, 16], got ",
                      options.bits());
  LOWBIT_CHECK_OPTION(options.channels() >= 1, "channels", "qvit_act: channels must be >= 1, got ", options.channels());
  reset();
}

void QvitActImpl::reset() {
  alpha = register_parameter("alpha", torch::ones({options.channels()}));
  zero_point = register_parameter("zero_point", torch::zeros({options.channels()}));
  init_state = register_buffer("init_state", torch::zeros({1}));
  signed_ = register_buffer("signed", torch::zeros({1}));
  init_flag_ = HostFlag();
  signed_flag_ = HostFlag();
}

void QvitActImpl::check_shape(c10::IntArrayRef shape) const {
  const auto rank = static_cast<int64_t>(shape.size());
  const auto dim = options.channel_dim();
  TORCH_CHECK(dim >= -rank && dim < rank, "qvit_act: channel_dim ", dim, " is out of range for input shape ", shape);
  if (options.channels() == 1) return;
  const auto size = shape[c10::maybe_wrap_dim(dim, rank)];
  TORCH_CHECK(size == options.channels(), "qvit_act: ", options.channels(), " channels (alpha, zero_point) along ",
              "channel_dim ", dim, ", but the input of shape ", shape, " has ", size, " there");
}

void QvitActImpl::initialize_from(const torch::Tensor& x) {
  torch::NoGradGuard no_grad;
  const auto v = x.detach().to(alpha.scalar_type());
  auto min = v.min(), mean_abs = v.abs().mean();
  hooks::all_reduce_(min, hooks::ReduceOp::Min);  // the whole batch's (nothing alone)
  hooks::all_reduce_(mean_abs, hooks::ReduceOp::Mean);
  signed_.fill_(min.lt(-1e-5));
  const auto range = range_of(options.bits(), is_signed());
  // clamp: an all-zero first batch would give a zero step (the official code divides by it).
  alpha.fill_((2 * mean_abs / std::sqrt(static_cast<double>(range.qp))).clamp_min(1e-8));
  // Official: z * 0.9 + 0.1 * (min x - alpha * Qn), Qn = -range.qn.
  zero_point.copy_(zero_point * 0.9 + 0.1 * (min + alpha * static_cast<double>(range.qn)));
  init_state.fill_(1);
}

torch::Tensor QvitActImpl::forward(const torch::Tensor& x) { return forward_with_grid(x).values; }

QuantizedTensor QvitActImpl::forward_with_grid(const torch::Tensor& x) {
  check_shape(x.sizes());
  if (is_training() && !initialized()) initialize_from(x);
  // The grid holds this offset itself (no second tensor kept for the backward).
  const auto offset = -ops::round_ste(zero_point) * alpha;
  auto grid = grid_with(offset);
  const double grad_scale =
      1.0 / std::sqrt(static_cast<double>(hooks::batch_numel(x)) * static_cast<double>(grid.range.qp));
  return {ops::lsq_quantize(x, alpha, offset, grid.range, grad_scale, grid.channel_dim), std::move(grid)};
}

std::optional<ops::LsqGrid> QvitActImpl::uniform_grid() {
  torch::NoGradGuard no_grad;
  return grid_with(-torch::round(zero_point) * alpha);
}

ops::LsqGrid QvitActImpl::grid_with(const torch::Tensor& offset) {
  return {alpha.detach(), offset.detach(), range_of(options.bits(), is_signed()), options.channel_dim()};
}

void QvitActImpl::pretty_print(std::ostream& stream) const {
  stream << "lowbit::quant::QvitAct(bits=" << options.bits() << ", channels=" << options.channels()
         << ", channel_dim=" << options.channel_dim() << ")";
}

Params QvitActImpl::config() const {
  return {{"bits", options.bits()}, {"channels", options.channels()}, {"channel_dim", options.channel_dim()}};
}

LOWBIT_REGISTER_CHANNEL_DIM_QUANTIZER(qvit_act, [](ParamReader& p) {
  return Quantizer(QvitAct(QvitActOptions(p.require<int64_t>("bits"))
                               .channels(p.get<int64_t>("channels", 1))
                               .channel_dim(p.get<int64_t>("channel_dim", -1))));
});

}  // namespace lowbit::quant
