#include <lowbit/csrc/ops/kept_operands.h>

#include <lowbit/csrc/kernels/binary_conv.h>
#include <lowbit/csrc/kernels/binary_gemm.h>
#include <lowbit/csrc/kernels/bit_planes.h>

#include <ATen/ATen.h>
#include <ATen/autocast_mode.h>
#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <string>
#include <vector>

namespace lowbit::ops {
namespace {

std::atomic<bool> packed_binary_forward_on{true};

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;
using Kept = Operand::Kept;

constexpr size_t kSavedPerOperand = 3;

// The tensors an operand keeps (kSavedPerOperand, some undefined); what restoring needs besides
// goes to ctx->saved_data under `name`.
std::array<at::Tensor, kSavedPerOperand> keep(AutogradContext* ctx, const std::string& name, const Operand& o) {
  ctx->saved_data[name + "_kept"] = static_cast<int64_t>(o.kept);
  ctx->saved_data[name + "_sizes"] = o.values.sizes();
  ctx->saved_data[name + "_dtype"] = o.values.scalar_type();
  switch (o.kept) {
    case Kept::Values: return {o.values, {}, {}};
    case Kept::Signs: return {kernels::pack_planes(o.values, Planes::Signs), {}, {}};
    case Kept::ScaledSigns:
      return {kernels::pack_planes(o.values, Planes::Signs),
              o.values.detach().abs().reshape({o.values.size(0), -1}).amax(1), {}};
    case Kept::Grid: {
      TORCH_CHECK(o.grid.has_value() && o.source.defined(), "kept_operands: a Grid operand needs its source and grid");
      const auto& g = *o.grid;
      ctx->saved_data[name + "_range"] = std::vector<int64_t>{g.range.qn, g.range.qp, g.range.sign};
      ctx->saved_data[name + "_channel_dim"] = g.channel_dim;
      return {o.source, g.step.detach(), g.offset.defined() ? g.offset.detach() : at::Tensor()};
    }
  }
  TORCH_CHECK(false, "kept_operands: unknown form");
}

// The operand's values in `dtype`, exactly as the forward had them (then cast).
at::Tensor restore(AutogradContext* ctx, const std::string& name, const variable_list& saved, size_t first,
                   at::ScalarType dtype) {
  const auto kept = static_cast<Kept>(ctx->saved_data[name + "_kept"].toInt());
  const auto sizes = ctx->saved_data[name + "_sizes"].toIntVector();
  switch (kept) {
    case Kept::Values: return saved[first].to(dtype);
    case Kept::Signs: return kernels::unpack_signs(saved[first], sizes, dtype);
    case Kept::ScaledSigns: {
      // sign(w) s = w where every |w| of a slice is s or 0 (also after a cast, which rounds s and -s alike).
      std::vector<int64_t> per_slice(sizes.size(), 1);
      per_slice[0] = sizes[0];
      return kernels::unpack_signs(saved[first], sizes, dtype) * saved[first + 1].to(dtype).view(per_slice);
    }
    case Kept::Grid: {
      const auto range = ctx->saved_data[name + "_range"].toIntVector();
      const LsqGrid grid{saved[first + 1], saved[first + 2], {range[0], range[1], range[2] != 0},
                         ctx->saved_data[name + "_channel_dim"].toInt()};
      return lsq_values(saved[first], grid).to(dtype);
    }
  }
  TORCH_CHECK(false, "kept_operands: unknown form");
}

// The operands of a product, first and second (input and weight of a layer), and a bias.
struct Restored {
  at::Tensor first, second, bias;  // the operands in the gradient's dtype
};

// Saves both operands and the bias; returns what each operand keeps (keep()).
std::array<std::array<at::Tensor, kSavedPerOperand>, 2> keep_all(AutogradContext* ctx, const Operand& first,
                                                                  const Operand& second,
                                                                  const std::optional<at::Tensor>& bias) {
  const auto i = keep(ctx, "first", first), w = keep(ctx, "second", second);
  ctx->save_for_backward({i[0], i[1], i[2], w[0], w[1], w[2], bias.value_or(at::Tensor())});
  return {i, w};
}

// Whether Signs planes (csrc/ops/bit_planes.h) of n values have no 0: plane 1 all ones.
bool no_zero(const at::Tensor& planes, int64_t n) {
  const auto* nonzero = planes.const_data_ptr<uint8_t>() + planes.size(1);
  const int64_t full = n / 8;
  for (int64_t b = 0; b < full; ++b) {
    if (nonzero[b] != 0xFF) return false;
  }
  const int tail = static_cast<int>(n % 8);
  return tail == 0 || (nonzero[full] & ((1 << tail) - 1)) == (1 << tail) - 1;
}

// A W1A1 convolution's forward on the packed kernels (kernels/binary_conv.h), where it applies:
// float32 CPU operands outside autocast, x in {-1, +1} (kept as Signs) and w = s_o sign(W) (ScaledSigns) without a
// 0 (the packed code has two values; `kept` holds their planes and magnitudes), one group,
// dilation 1, a CPU with AVX-512 VPOPCNTDQ:
//   y = s_o (x (*) sign(W)) + b,  the integer sums exact (at::conv2d rounds its float sums).
std::optional<at::Tensor> packed_forward(const at::Tensor& x, const at::Tensor& w, const std::optional<at::Tensor>& bias,
                                         const Operand& input, const Operand& weight, const Conv2dArgs& args,
                                         const std::array<std::array<at::Tensor, kSavedPerOperand>, 2>& kept) {
  const auto ones = [](const std::vector<int64_t>& v) {
    return std::all_of(v.begin(), v.end(), [](int64_t d) { return d == 1; });
  };
  // Not under autocast, whose conv2d computes in its lower precision and returns that dtype.
  if (!packed_binary_forward() || at::autocast::is_autocast_enabled(at::kCPU) || input.kept != Kept::Signs ||
      weight.kept != Kept::ScaledSigns ||
      x.scalar_type() != at::kFloat || w.scalar_type() != at::kFloat || !x.is_cpu() || !w.is_cpu() ||
      args.groups != 1 || !ones(args.dilation) || args.stride.size() != 2 || args.padding.size() != 2 ||
      (bias && bias->scalar_type() != at::kFloat) || kernels::cpu_binary_isa() != kernels::BinaryIsa::Avx512 ||
      !no_zero(kept[0][0], x.numel()) || !no_zero(kept[1][0], w.numel())) {
    return std::nullopt;
  }
  const auto [bits, tap_sums] = kernels::pack_conv_weight(w);
  const auto& alpha = kept[1][1];
  const auto zeros = at::zeros_like(alpha), unit = at::ones_like(alpha);
  const kernels::BinaryConvGeometry g{x.size(1), {w.size(2), w.size(3)}, {args.stride[0], args.stride[1]},
                                      {args.padding[0], args.padding[1]}};
  const auto y = kernels::binary_conv2d_epilogue(kernels::pack_pixels(x), bits, tap_sums, g,
                                                 {alpha, unit, bias ? *bias : zeros, zeros, unit, zeros}, at::Tensor());
  return y.contiguous(x.suggest_memory_format());
}

Restored restore_all(AutogradContext* ctx, const at::Tensor& grad) {
  const auto saved = ctx->get_saved_variables();
  const auto dtype = grad.scalar_type();
  return {restore(ctx, "first", saved, 0, dtype), restore(ctx, "second", saved, kSavedPerOperand, dtype),
          saved[2 * kSavedPerOperand]};
}

// A gradient in the dtype of the operand `name` it belongs to (a float16 gradient of a float32
// input under autocast, as the cast autocast inserts would return).
at::Tensor in_dtype(AutogradContext* ctx, const std::string& name, const at::Tensor& grad) {
  return grad.defined() ? grad.to(ctx->saved_data[name + "_dtype"].toScalarType()) : grad;
}

// The gradients of a layer's input, weight and bias, then none for its `extra_inputs`.
variable_list layer_grads(AutogradContext* ctx, const at::Tensor& gx, const at::Tensor& gw, at::Tensor gb,
                          size_t extra_inputs) {
  if (gb.defined()) gb = gb.to(ctx->get_saved_variables()[2 * kSavedPerOperand].scalar_type());
  variable_list out{in_dtype(ctx, "first", gx), in_dtype(ctx, "second", gw), gb};
  out.resize(3 + extra_inputs);
  return out;
}

// The operands' values are the Function's inputs (what gradients flow to); the Operands beside
// them say how to keep them.
class Conv2dOf : public torch::autograd::Function<Conv2dOf> {
 public:
  // The bias is optional: an undefined tensor cannot be an input of an autograd Function.
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& w,
                            const std::optional<at::Tensor>& bias, const Operand& input, const Operand& weight,
                            const Conv2dArgs& args) {
    const auto kept = keep_all(ctx, input, weight, bias);
    ctx->saved_data["stride"] = args.stride;
    ctx->saved_data["padding"] = args.padding;
    ctx->saved_data["dilation"] = args.dilation;
    ctx->saved_data["groups"] = args.groups;
    if (auto packed = packed_forward(x, w, bias, input, weight, args, kept)) return *packed;
    return at::conv2d(x, w, bias, args.stride, args.padding, args.dilation, args.groups);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad) {
    const auto g = grad[0].contiguous();
    const auto s = restore_all(ctx, g);
    const std::array<bool, 3> mask{ctx->needs_input_grad(0), ctx->needs_input_grad(1),
                                   s.bias.defined() && ctx->needs_input_grad(2)};
    const auto bias_sizes = s.bias.defined() ? at::OptionalIntArrayRef(s.bias.sizes()) : at::OptionalIntArrayRef();
    auto [gx, gw, gb] = at::convolution_backward(
        g, s.first, s.second, bias_sizes, ctx->saved_data["stride"].toIntVector(),
        ctx->saved_data["padding"].toIntVector(), ctx->saved_data["dilation"].toIntVector(), false, {0, 0},
        ctx->saved_data["groups"].toInt(), mask);
    return layer_grads(ctx, gx, gw, gb, 3);
  }
};

// y = x W^T + b over the last dim of x: dx = g W, dW = g^T x and db = sum g over the rows, with
// x and g as [rows, features].
class LinearOf : public torch::autograd::Function<LinearOf> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& w,
                            const std::optional<at::Tensor>& bias, const Operand& input, const Operand& weight) {
    keep_all(ctx, input, weight, bias);
    return at::linear(x, w, bias);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad) {
    const auto& g = grad[0];
    const auto s = restore_all(ctx, g);
    const auto g2 = g.reshape({-1, g.size(-1)});
    at::Tensor gx, gw, gb;
    if (ctx->needs_input_grad(0)) gx = g.matmul(s.second);
    if (ctx->needs_input_grad(1)) gw = g2.t().mm(s.first.reshape({-1, s.first.size(-1)}));
    if (s.bias.defined() && ctx->needs_input_grad(2)) gb = g2.sum(0);
    return layer_grads(ctx, gx, gw, gb, 2);
  }
};

// c = a b, or a b^T: da = g b^T (g b), db = a^T g (g^T a).
class MatmulOf : public torch::autograd::Function<MatmulOf> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& a, const at::Tensor& b, const Operand& first,
                            const Operand& second, bool transpose_b) {
    keep_all(ctx, first, second, std::nullopt);
    ctx->saved_data["transpose_b"] = transpose_b;
    return at::matmul(a, transpose_b ? b.transpose(-2, -1) : b);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad) {
    const auto& g = grad[0];
    const auto s = restore_all(ctx, g);
    const bool transpose_b = ctx->saved_data["transpose_b"].toBool();
    at::Tensor ga, gb;
    if (ctx->needs_input_grad(0)) ga = g.matmul(transpose_b ? s.second : s.second.transpose(-2, -1));
    if (ctx->needs_input_grad(1)) {
      gb = transpose_b ? g.transpose(-2, -1).matmul(s.first) : s.first.transpose(-2, -1).matmul(g);
    }
    return {in_dtype(ctx, "first", ga), in_dtype(ctx, "second", gb), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

std::optional<at::Tensor> optional_tensor(const at::Tensor& t) {
  return t.defined() ? std::optional<at::Tensor>(t) : std::nullopt;
}

}  // namespace

void set_packed_binary_forward(bool on) { packed_binary_forward_on = on; }
bool packed_binary_forward() { return packed_binary_forward_on; }

at::Tensor conv2d_of(const Operand& input, const Operand& weight, const at::Tensor& bias, const Conv2dArgs& args) {
  return Conv2dOf::apply(input.values, weight.values, optional_tensor(bias), input, weight, args);
}

at::Tensor linear_of(const Operand& input, const Operand& weight, const at::Tensor& bias) {
  return LinearOf::apply(input.values, weight.values, optional_tensor(bias), input, weight);
}

at::Tensor matmul_of(const Operand& a, const Operand& b, bool transpose_b) {
  TORCH_CHECK(a.values.dim() >= 2 && a.values.dim() == b.values.dim() &&
                  a.values.sizes().slice(0, a.values.dim() - 2) == b.values.sizes().slice(0, b.values.dim() - 2),
              "matmul_of: expected operands with the same batch dims, got ", a.values.sizes(), " and ",
              b.values.sizes());
  return MatmulOf::apply(a.values, b.values, a, b, transpose_b);
}

}  // namespace lowbit::ops
