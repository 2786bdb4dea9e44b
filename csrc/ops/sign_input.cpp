#include <lowbit/csrc/ops/sign_input.h>

#include <lowbit/csrc/kernels/bit_planes.h>

#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>

#include <array>
#include <vector>

namespace lowbit::ops {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// What both functions keep: the input's planes, shape and dtype; the weight, or, when it holds
// scaled signs, its planes and the magnitude s of each slice along dim 0 (the largest |w| there).
void save_signs(AutogradContext* ctx, const at::Tensor& signs, const at::Tensor& weight,
                const std::optional<at::Tensor>& bias, bool weight_scaled_signs) {
  at::Tensor kept_weight = weight, magnitudes;
  if (weight_scaled_signs) {
    kept_weight = kernels::pack_planes(weight, Planes::Signs);
    magnitudes = weight.detach().abs().reshape({weight.size(0), -1}).amax(1);
    ctx->saved_data["weight_sizes"] = weight.sizes();
  }
  ctx->save_for_backward({kernels::pack_planes(signs, Planes::Signs), kept_weight, bias.value_or(at::Tensor()),
                          magnitudes});
  ctx->saved_data["sizes"] = signs.sizes();
  ctx->saved_data["dtype"] = signs.scalar_type();
  ctx->saved_data["weight_dtype"] = weight.scalar_type();
}

struct Saved {
  at::Tensor signs, weight, bias;  // signs and weight in the gradient's dtype
};

// A scaled-signs weight comes back exactly: sign(w) s = w where every |w| of a slice is s or 0
// (also after a cast to the gradient's dtype, which rounds s and -s alike).
Saved restore(AutogradContext* ctx, const at::Tensor& grad) {
  const auto saved = ctx->get_saved_variables();
  const auto sizes = ctx->saved_data["sizes"].toIntVector();
  const auto dtype = grad.scalar_type();
  auto weight = saved[1].to(dtype);
  if (saved[3].defined()) {
    const auto weight_sizes = ctx->saved_data["weight_sizes"].toIntVector();
    std::vector<int64_t> per_slice(weight_sizes.size(), 1);
    per_slice[0] = weight_sizes[0];
    weight = kernels::unpack_signs(saved[1], weight_sizes, dtype) * saved[3].to(dtype).view(per_slice);
  }
  return {kernels::unpack_signs(saved[0], sizes, dtype), weight, saved[2]};
}

// Gradients in the dtypes of the tensors they belong to (a float16 gradient of a float32 input
// under autocast, as the cast autocast inserts would return).
variable_list in_dtypes(AutogradContext* ctx, at::Tensor gx, at::Tensor gw, at::Tensor gb, size_t extra_inputs) {
  const auto saved = ctx->get_saved_variables();
  const auto dtype = ctx->saved_data["dtype"].toScalarType();
  if (gx.defined()) gx = gx.to(dtype);
  if (gw.defined()) gw = gw.to(ctx->saved_data["weight_dtype"].toScalarType());
  if (gb.defined()) gb = gb.to(saved[2].scalar_type());
  variable_list out{gx, gw, gb};
  out.resize(3 + extra_inputs);
  return out;
}

class Conv2dOfSigns : public torch::autograd::Function<Conv2dOfSigns> {
 public:
  // The bias is optional: an undefined tensor cannot be an input of an autograd Function.
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& signs, const at::Tensor& weight,
                            const std::optional<at::Tensor>& bias, at::IntArrayRef stride, at::IntArrayRef padding,
                            at::IntArrayRef dilation, int64_t groups, bool weight_scaled_signs) {
    save_signs(ctx, signs, weight, bias, weight_scaled_signs);
    ctx->saved_data["stride"] = stride;
    ctx->saved_data["padding"] = padding;
    ctx->saved_data["dilation"] = dilation;
    ctx->saved_data["groups"] = groups;
    return at::conv2d(signs, weight, bias, stride, padding, dilation, groups);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad) {
    const auto g = grad[0].contiguous();
    const auto s = restore(ctx, g);
    const std::array<bool, 3> mask{ctx->needs_input_grad(0), ctx->needs_input_grad(1),
                                   s.bias.defined() && ctx->needs_input_grad(2)};
    const auto bias_sizes = s.bias.defined() ? at::OptionalIntArrayRef(s.bias.sizes()) : at::OptionalIntArrayRef();
    auto [gx, gw, gb] = at::convolution_backward(
        g, s.signs, s.weight, bias_sizes, ctx->saved_data["stride"].toIntVector(),
        ctx->saved_data["padding"].toIntVector(), ctx->saved_data["dilation"].toIntVector(), false, {0, 0},
        ctx->saved_data["groups"].toInt(), mask);
    return in_dtypes(ctx, gx, gw, gb, 5);
  }
};

// y = x W^T + b over the last dim of x: dx = g W, dW = g^T x and db = sum g over the rows, with
// x and g as [rows, features].
class LinearOfSigns : public torch::autograd::Function<LinearOfSigns> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& signs, const at::Tensor& weight,
                            const std::optional<at::Tensor>& bias, bool weight_scaled_signs) {
    save_signs(ctx, signs, weight, bias, weight_scaled_signs);
    return at::linear(signs, weight, bias);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad) {
    const auto& g = grad[0];
    const auto s = restore(ctx, g);
    const auto g2 = g.reshape({-1, g.size(-1)});
    at::Tensor gx, gw, gb;
    if (ctx->needs_input_grad(0)) gx = g.matmul(s.weight);
    if (ctx->needs_input_grad(1)) gw = g2.t().mm(s.signs.reshape({-1, s.signs.size(-1)}));
    if (s.bias.defined() && ctx->needs_input_grad(2)) gb = g2.sum(0);
    return in_dtypes(ctx, gx, gw, gb, 1);
  }
};

std::optional<at::Tensor> optional_tensor(const at::Tensor& t) { return t.defined() ? std::optional<at::Tensor>(t) : std::nullopt; }

}  // namespace

at::Tensor conv2d_of_signs(const at::Tensor& signs, const at::Tensor& weight, const at::Tensor& bias,
                           const Conv2dArgs& args, bool weight_scaled_signs) {
  return Conv2dOfSigns::apply(signs, weight, optional_tensor(bias), args.stride, args.padding, args.dilation, args.groups,
                              weight_scaled_signs);
}

at::Tensor linear_of_signs(const at::Tensor& signs, const at::Tensor& weight, const at::Tensor& bias,
                           bool weight_scaled_signs) {
  return LinearOfSigns::apply(signs, weight, optional_tensor(bias), weight_scaled_signs);
}

}  // namespace lowbit::ops
