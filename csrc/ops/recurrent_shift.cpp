#include <lowbit/csrc/ops/recurrent_shift.h>

#include <lowbit/csrc/ops/bilinear_sign.h>

#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>

namespace lowbit::ops {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

class RecurrentShiftFunction : public torch::autograd::Function<RecurrentShiftFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& w, const at::Tensor& c, const at::Tensor& p) {
    ctx->saved_data["p"] = p.detach();  // a constant: no version check, no gradient
    ctx->saved_data["c_shape"] = c.sizes().vec();
    return at::addcmul(w, output_channel_view(c.detach(), w.dim()), p, -1);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad) {
    const auto p = ctx->saved_data["p"].toTensor();
    const auto& g = grad[0];
    const auto grad_c = -at::linalg_vecdot(g.reshape({g.size(0), -1}), p.reshape({p.size(0), -1}));
    return {g, grad_c.reshape(ctx->saved_data["c_shape"].toIntVector()), at::Tensor()};
  }
};

}  // namespace

at::Tensor recurrent_shift(const at::Tensor& w, const at::Tensor& c, const at::Tensor& p) {
  TORCH_CHECK(w.dim() >= 2, "recurrent shift: expects a weight [C_out, ...] with at least 2 dims, got shape ", w.sizes());
  TORCH_CHECK(c.numel() == w.size(0), "recurrent shift: c has ", c.numel(),
              " elements, expected one per output channel of the weight ", w.sizes());
  TORCH_CHECK(p.sizes() == w.sizes(), "recurrent shift: P has shape ", p.sizes(), ", expected the weight's ", w.sizes());
  return RecurrentShiftFunction::apply(w, c, p);
}

}  // namespace lowbit::ops
