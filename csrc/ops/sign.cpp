#include <lowbit/csrc/ops/sign.h>

#include <lowbit/csrc/kernels/bit_planes.h>
#include <lowbit/csrc/kernels/ste_backward.h>
#include <lowbit/csrc/util/suggest.h>

#include <torch/csrc/autograd/custom_function.h>
#include <ATen/ops/sign.h>

namespace lowbit::ops {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

class SignFunction : public torch::autograd::Function<SignFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, int64_t ste) {
    ctx->saved_data["ste"] = ste;
    ctx->save_for_backward({ste_saved(x, static_cast<Ste>(ste))});
    return at::sign(x);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grad) {
    const auto ste = static_cast<Ste>(ctx->saved_data["ste"].toInt());
    return {ste_grad(grad[0], ctx->get_saved_variables()[0], ste), at::Tensor()};
  }
};

const std::vector<std::string> kSteNames = {"identity", "clipped", "approx"};

}  // namespace

at::Tensor sign(const at::Tensor& x, Ste ste) { return SignFunction::apply(x, static_cast<int64_t>(ste)); }

at::Tensor ste_saved(const at::Tensor& x, Ste ste) {
  switch (ste) {
    case Ste::Identity: return at::Tensor();
    case Ste::Clipped: return kernels::pack_planes(x, Planes::ClipMask);
    case Ste::ApproxSign: return x;
  }
  return at::Tensor();
}

at::Tensor ste_grad(const at::Tensor& grad, const at::Tensor& saved, Ste ste) {
  switch (ste) {
    case Ste::Identity: return grad;
    case Ste::Clipped: return kernels::mask_by_plane(grad, saved);
    case Ste::ApproxSign: return kernels::ste_backward(grad, saved, ste);
  }
  return at::Tensor();
}

Ste parse_ste(const std::string& name) {
  return static_cast<Ste>(util::choose("straight-through estimator", name, kSteNames));
}

std::string to_string(Ste ste) { return kSteNames.at(static_cast<size_t>(ste)); }

}  // namespace lowbit::ops
