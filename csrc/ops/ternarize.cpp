#include <lowbit/csrc/ops/ternarize.h>

#include <lowbit/csrc/kernels/weight_quantizers.h>
#include <lowbit/csrc/ops/sign.h>

#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>

#include <vector>

namespace lowbit::ops {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

class TernarizeFunction : public torch::autograd::Function<TernarizeFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& w, double delta, bool per_channel, int64_t ste) {
    ctx->saved_data["ste"] = ste;
    ctx->save_for_backward({ste_saved(w, static_cast<Ste>(ste))});
    return std::get<0>(kernels::ternarize_forward(w, delta, per_channel));
  }
  static variable_list backward(AutogradContext* ctx, variable_list grad) {
    const auto ste = static_cast<Ste>(ctx->saved_data["ste"].toInt());
    return {ste_grad(grad[0], ctx->get_saved_variables()[0], ste), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

TernaryScale ternary_scale(const at::Tensor& w, double delta, bool per_channel) {
  const auto [values, threshold, alpha] = kernels::ternarize_forward(w.detach(), delta, per_channel);
  std::vector<int64_t> shape(w.dim(), 1);
  if (per_channel) shape[0] = w.size(0);
  return {threshold.view(shape), alpha.view(shape)};
}

at::Tensor ternarize(const at::Tensor& w, double delta, bool per_channel, Ste ste) {
  return TernarizeFunction::apply(w, delta, per_channel, static_cast<int64_t>(ste));
}

}  // namespace lowbit::ops
