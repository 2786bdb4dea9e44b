#include <lowbit/csrc/ops/shifted_sign.h>

#include <lowbit/csrc/kernels/shifted_sign.h>

#include <torch/csrc/autograd/custom_function.h>

namespace lowbit::ops {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

class ShiftedSignFunction : public torch::autograd::Function<ShiftedSignFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& shift, int64_t ste) {
    ctx->saved_data["ste"] = ste;
    ctx->save_for_backward({x, shift});
    return kernels::shifted_sign_forward(x, shift);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grad) {
    const auto saved = ctx->get_saved_variables();
    auto [grad_x, grad_shift] = kernels::shifted_sign_backward(grad[0], saved[0], saved[1],
                                                               static_cast<Ste>(ctx->saved_data["ste"].toInt()));
    return {grad_x, grad_shift, at::Tensor()};
  }
};

}  // namespace

at::Tensor shifted_sign(const at::Tensor& x, const at::Tensor& shift, Ste ste) {
  return ShiftedSignFunction::apply(x, shift, static_cast<int64_t>(ste));
}

}  // namespace lowbit::ops
