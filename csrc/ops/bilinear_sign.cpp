#include <lowbit/csrc/ops/bilinear_sign.h>

#include <lowbit/csrc/kernels/weight_quantizers.h>
#include <lowbit/csrc/ops/loss_scale.h>

#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>

namespace lowbit::ops {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

class BilinearSignFunction : public torch::autograd::Function<BilinearSignFunction> {
 public:
  // `gamma`: [C] in w's dtype, on w's device.
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& w, const at::Tensor& scale, const at::Tensor& gamma,
                            double kappa, bool scale_sign_grad) {
    ctx->saved_data["kappa"] = kappa;
    ctx->saved_data["scale_sign_grad"] = scale_sign_grad;
    ctx->save_for_backward({w, scale, gamma});
    return kernels::bilinear_sign_forward(w, scale.detach().flatten().abs(), kappa);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad) {
    const auto saved = ctx->get_saved_variables();
    const auto &w = saved[0], &scale = saved[1], &gamma = saved[2];
    const auto s = scale.flatten();
    // The gamma term is the backward's own: scaled as the chain rule scales g (ops/loss_scale.h).
    const double loss = loss_scale();
    auto [grad_w, grad_alpha] = kernels::bilinear_sign_backward(grad[0], w, s.abs(), loss == 1 ? gamma : gamma * loss,
                                                                ctx->saved_data["kappa"].toDouble());
    if (ctx->saved_data["scale_sign_grad"].toBool()) grad_alpha = grad_alpha * at::sign(s);
    return {grad_w, grad_alpha.reshape(scale.sizes()), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

at::Tensor output_channel_view(const at::Tensor& values, int64_t ndim) {
  std::vector<int64_t> shape(ndim, 1);
  shape[0] = values.numel();
  return values.view(shape);
}

at::Tensor bilinear_sign(const at::Tensor& w, const at::Tensor& scale, const at::Tensor& gamma,
                         const BilinearSignOptions& options) {
  TORCH_CHECK(w.dim() >= 2, "bilinear sign: expects a weight [C_out, ...] with at least 2 dims, got shape ", w.sizes());
  TORCH_CHECK(scale.numel() == w.size(0), "bilinear sign: the scale has ", scale.numel(),
              " elements, expected one per output channel of the weight ", w.sizes());
  TORCH_CHECK(gamma.numel() == 1 || gamma.numel() == w.size(0), "bilinear sign: gamma has ", gamma.numel(),
              " elements, expected 1 or one per output channel of the weight ", w.sizes());
  TORCH_CHECK_VALUE(options.kappa() > 0, "bilinear sign: kappa must be > 0, got ", options.kappa());
  const auto gamma_per_channel = gamma.detach().flatten().to(w.device(), w.scalar_type()).expand({w.size(0)});
  return BilinearSignFunction::apply(w, scale, gamma_per_channel, options.kappa(), options.scale_sign_grad());
}

at::Tensor bilinear_sign(const at::Tensor& w, const at::Tensor& scale, double gamma, const BilinearSignOptions& options) {
  return bilinear_sign(w, scale, at::scalar_tensor(gamma, at::kDouble), options);
}

}  // namespace lowbit::ops
