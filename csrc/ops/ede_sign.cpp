#include <lowbit/csrc/ops/ede_sign.h>

#include <torch/csrc/autograd/custom_function.h>
#include <ATen/ops/sign.h>
#include <ATen/ops/tanh.h>

namespace lowbit::ops {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

class EdeSignFunction : public torch::autograd::Function<EdeSignFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& k, const at::Tensor& t) {
    ctx->save_for_backward({x, k, t});
    return at::sign(x);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grad) {
    const auto saved = ctx->get_saved_variables();
    const auto &x = saved[0], &k = saved[1], &t = saved[2];
    const auto slope = at::tanh(x * t);
    return {grad[0] * (k * t) * (1 - slope * slope), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

at::Tensor ede_sign(const at::Tensor& x, const at::Tensor& k, const at::Tensor& t) {
  TORCH_CHECK(k.numel() == 1 && t.numel() == 1, "ede_sign: k and t must hold one value each, got shapes ", k.sizes(),
              " and ", t.sizes());
  return EdeSignFunction::apply(x, k.detach(), t.detach());
}

}  // namespace lowbit::ops
