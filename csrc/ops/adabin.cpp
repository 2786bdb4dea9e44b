#include <lowbit/csrc/ops/adabin.h>

#include <lowbit/csrc/kernels/activation_quantizers.h>
#include <lowbit/csrc/kernels/weight_quantizers.h>

#include <torch/csrc/autograd/custom_function.h>

namespace lowbit::ops {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

class AdaBinWeightFunction : public torch::autograd::Function<AdaBinWeightFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& w, const at::Tensor& k, const at::Tensor& t) {
    auto [out, beta, alpha] = kernels::adabin_weight_forward(w);
    ctx->save_for_backward({w, beta, alpha, k, t});
    return out;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grad) {
    const auto s = ctx->get_saved_variables();
    return {kernels::adabin_weight_backward(grad[0], s[0], s[1], s[2], s[3], s[4]), at::Tensor(), at::Tensor()};
  }
};

class AdaBinActivationFunction : public torch::autograd::Function<AdaBinActivationFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& alpha, const at::Tensor& beta,
                            bool code) {
    ctx->saved_data["code"] = code;
    ctx->save_for_backward({x, alpha, beta});
    return kernels::adabin_activation_forward(x, alpha, beta, code);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grad) {
    const auto s = ctx->get_saved_variables();
    auto [grad_x, grad_alpha, grad_beta] =
        kernels::adabin_activation_backward(grad[0], s[0], s[1], s[2], ctx->saved_data["code"].toBool());
    return {grad_x, grad_alpha, grad_beta, at::Tensor()};
  }
};

}  // namespace

at::Tensor adabin_weight(const at::Tensor& w, const at::Tensor& k, const at::Tensor& t) {
  TORCH_CHECK(k.numel() == 1 && t.numel() == 1, "adabin: k and t must hold one value each, got shapes ", k.sizes(),
              " and ", t.sizes());
  return AdaBinWeightFunction::apply(w, k.detach(), t.detach());
}

at::Tensor adabin_activation(const at::Tensor& x, const at::Tensor& alpha, const at::Tensor& beta, bool code) {
  return AdaBinActivationFunction::apply(x, alpha, beta, code);
}

}  // namespace lowbit::ops
