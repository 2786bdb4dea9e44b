#include <lowbit/csrc/ops/scaled_sign.h>

#include <lowbit/csrc/kernels/ste_backward.h>
#include <lowbit/csrc/util/shapes.h>
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
    const auto alpha = channel_mean_abs(w);
    ctx->saved_data["scale_grad"] = scale_grad;
    ctx->save_for_backward({w, alpha});
    return alpha * at::sign(w);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grad) {
    const auto saved = ctx->get_saved_variables();
    const auto &w = saved[0], &alpha = saved[1];
    const auto clipped = kernels::ste_backward(grad[0], w, Ste::Clipped);
    switch (static_cast<ScaleGrad>(ctx->saved_data["scale_grad"].toInt())) {
      case ScaleGrad::Detached:
        return {clipped, at::Tensor()};
      case ScaleGrad::MagnitudeAware:
        return {clipped * alpha, at::Tensor()};
      case ScaleGrad::Xnor:
        return {clipped * alpha + grad[0] / static_cast<double>(w[0].numel()), at::Tensor()};
    }
    TORCH_CHECK(false, "scaled_sign: bad ScaleGrad");
  }
};

const std::vector<std::string> kScaleGradNames = {"detached", "magnitude_aware", "xnor"};

}  // namespace

at::Tensor channel_mean_abs(const at::Tensor& w) {
  TORCH_CHECK(w.dim() >= 2, "scaled sign expects a weight with an output-channel dim and at least one more, got shape ",
              w.sizes());
  return w.abs().mean(util::non_channel_dims(w), /*keepdim=*/true);
}

at::Tensor scaled_sign(const at::Tensor& w, ScaleGrad scale_grad) {
  return ScaledSignFunction::apply(w, static_cast<int64_t>(scale_grad));
}

ScaleGrad parse_scale_grad(const std::string& name) {
  return static_cast<ScaleGrad>(util::choose("scale gradient", name, kScaleGradNames));
}

}  // namespace lowbit::ops
