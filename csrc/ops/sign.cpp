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

// What the backward keeps of x: nothing for the identity estimator, the 1-bit mask 1[|x| <= 1]
// for the clipped one (csrc/ops/bit_planes.h), x itself for ApproxSign, whose derivative
// 2 - 2|x| needs its magnitude.
class SignFunction : public torch::autograd::Function<SignFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, int64_t ste) {
    ctx->saved_data["ste"] = ste;
    switch (static_cast<Ste>(ste)) {
      case Ste::Identity: break;
      case Ste::Clipped: ctx->save_for_backward({kernels::pack_planes(x, Planes::ClipMask)}); break;
      case Ste::ApproxSign: ctx->save_for_backward({x}); break;
    }
    return at::sign(x);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grad) {
    const auto ste = static_cast<Ste>(ctx->saved_data["ste"].toInt());
    if (ste == Ste::Identity) return {grad[0], at::Tensor()};
    const auto saved = ctx->get_saved_variables()[0];
    return {ste == Ste::Clipped ? kernels::mask_by_plane(grad[0], saved) : kernels::ste_backward(grad[0], saved, ste),
            at::Tensor()};
  }
};

const std::vector<std::string> kSteNames = {"identity", "clipped", "approx"};

}  // namespace

at::Tensor sign(const at::Tensor& x, Ste ste) { return SignFunction::apply(x, static_cast<int64_t>(ste)); }

Ste parse_ste(const std::string& name) {
  return static_cast<Ste>(util::choose("straight-through estimator", name, kSteNames));
}

std::string to_string(Ste ste) { return kSteNames.at(static_cast<size_t>(ste)); }

}  // namespace lowbit::ops
