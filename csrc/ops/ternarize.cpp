#include <lowbit/csrc/ops/ternarize.h>

#include <lowbit/csrc/kernels/ste_backward.h>

#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>

#include <numeric>

namespace lowbit::ops {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

class TernarizeFunction : public torch::autograd::Function<TernarizeFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& w, double delta, bool per_channel, int64_t ste) {
    const auto scale = ternary_scale(w, delta, per_channel);
    ctx->saved_data["ste"] = ste;
    ctx->save_for_backward({w});
    return scale.alpha * at::sign(w) * (w.abs() > scale.threshold);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grad) {
    const auto w = ctx->get_saved_variables()[0];
    const auto ste = static_cast<Ste>(ctx->saved_data["ste"].toInt());
    return {kernels::ste_backward(grad[0], w, ste), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

TernaryScale ternary_scale(const at::Tensor& w, double delta, bool per_channel) {
  TORCH_CHECK_VALUE(delta > 0, "ternarize: threshold factor delta must be > 0, got ", delta);
  TORCH_CHECK(!per_channel || w.dim() >= 2, "ternarize: per-channel ternarization needs a weight with an output-channel dim "
              "and at least one more, got shape ", w.sizes());
  std::vector<int64_t> dims(per_channel ? w.dim() - 1 : w.dim());
  std::iota(dims.begin(), dims.end(), per_channel ? 1 : 0);
  const auto magnitude = w.detach().abs();
  const auto threshold = delta * magnitude.mean(dims, /*keepdim=*/true);
  const auto kept = (magnitude > threshold).to(magnitude.scalar_type());
  const auto alpha = (magnitude * kept).sum(dims, true) / kept.sum(dims, true).clamp_min(1);
  return {threshold, alpha};
}

at::Tensor ternarize(const at::Tensor& w, double delta, bool per_channel, Ste ste) {
  return TernarizeFunction::apply(w, delta, per_channel, static_cast<int64_t>(ste));
}

}  // namespace lowbit::ops
