#include <lowbit/csrc/ops/scaled_sign.h>

#include <lowbit/csrc/kernels/weight_quantizers.h>
#include <lowbit/csrc/util/suggest.h>

#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>

namespace lowbit::ops {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

class ScaledSignFunction : public torch::autograd::Function<ScaledSignFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& w, int64_t scale_grad) {
    auto [out, alpha] = kernels::scaled_sign_forward(w);
    ctx->saved_data["scale_grad"] = scale_grad;
    ctx->save_for_backward({w, alpha});
    return out;
  }
  // grad by reference: the autograd engine's own list, so that a gradient nothing else holds can
  // be written over (as the engine's InputBuffer and AccumulateGrad reuse such gradients) instead of
  // allocating a second weight-sized tensor.
  static variable_list backward(AutogradContext* ctx, variable_list& grad) {
    const auto saved = ctx->get_saved_variables();
    const auto& w = saved[0];
    const auto mode = static_cast<ScaleGrad>(ctx->saved_data["scale_grad"].toInt());
    at::Tensor g = std::move(grad[0]);
    const bool owned = g.use_count() == 1 && !g.is_view() && g.has_storage() && g.storage().use_count() == 1 &&
                       g.is_contiguous() && g.sizes() == w.sizes() && g.device() == w.device() &&
                       g.scalar_type() == w.scalar_type() &&
                       (w.scalar_type() == at::kFloat || w.scalar_type() == at::kDouble);
    if (!owned) {
      return {kernels::scaled_sign_backward(g, w, saved[1], mode != ScaleGrad::Detached, mode == ScaleGrad::Xnor),
              at::Tensor()};
    }
    kernels::scaled_sign_backward_(g, w, saved[1], mode != ScaleGrad::Detached, mode == ScaleGrad::Xnor);
    return {g, at::Tensor()};
  }
};

const std::vector<std::string> kScaleGradNames = {"detached", "magnitude_aware", "xnor"};

}  // namespace

at::Tensor scaled_sign(const at::Tensor& w, ScaleGrad scale_grad) {
  TORCH_CHECK(w.dim() >= 2, "scaled sign expects a weight with an output-channel dim and at least one more, got shape ",
              w.sizes());
  return ScaledSignFunction::apply(w, static_cast<int64_t>(scale_grad));
}

std::string to_string(ScaleGrad grad) { return kScaleGradNames.at(static_cast<size_t>(grad)); }

ScaleGrad parse_scale_grad(const std::string& name) {
  return static_cast<ScaleGrad>(util::choose("scale gradient", name, kScaleGradNames));
}

}  // namespace lowbit::ops
