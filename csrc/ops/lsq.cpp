#include <lowbit/csrc/ops/lsq.h>

#include <lowbit/csrc/kernels/lsq.h>

#include <torch/csrc/autograd/custom_function.h>

namespace lowbit::ops {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

kernels::LsqArgs args_from(AutogradContext* ctx) {
  return {ctx->saved_data["qn"].toDouble(), ctx->saved_data["qp"].toDouble(), ctx->saved_data["channel_dim"].toInt(),
          ctx->saved_data["sign"].toBool()};
}

class LsqFunction : public torch::autograd::Function<LsqFunction> {
 public:
  // The offset is optional: an undefined at::Tensor is not accepted as a Function input.
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& step,
                            const std::optional<at::Tensor>& offset, double qn, double qp, bool sign,
                            double grad_scale, int64_t channel_dim) {
    ctx->saved_data["qn"] = qn;
    ctx->saved_data["qp"] = qp;
    ctx->saved_data["sign"] = sign;
    ctx->saved_data["grad_scale"] = grad_scale;
    ctx->saved_data["channel_dim"] = channel_dim;
    const auto offset_tensor = offset.value_or(at::Tensor());
    ctx->saved_data["has_offset"] = offset_tensor.defined();
    ctx->save_for_backward({x, step, offset_tensor});
    return kernels::lsq_forward(x, step, offset_tensor, args_from(ctx));
  }
  static variable_list backward(AutogradContext* ctx, variable_list grad) {
    const auto saved = ctx->get_saved_variables();
    const auto offset = ctx->saved_data["has_offset"].toBool() ? saved[2] : at::Tensor();
    auto [grad_x, grad_step, grad_offset] = kernels::lsq_backward(grad[0], saved[0], saved[1], offset, args_from(ctx));
    const double g = ctx->saved_data["grad_scale"].toDouble();
    return {grad_x, grad_step * g, grad_offset.defined() ? grad_offset * g : at::Tensor(),
            at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

LsqRange lsq_range(int64_t bits, bool is_signed) {
  TORCH_CHECK_VALUE(bits >= 1 && bits <= 32, "bits must be in [1, 32], got ", bits);
  if (is_signed && bits == 1) return {1, 1, /*sign=*/true};
  if (is_signed) return {int64_t{1} << (bits - 1), (int64_t{1} << (bits - 1)) - 1};
  return {0, (int64_t{1} << bits) - 1};
}

at::Tensor lsq_quantize(const at::Tensor& x, const at::Tensor& step, const at::Tensor& offset, LsqRange range,
                        double grad_scale, int64_t channel_dim) {
  TORCH_CHECK(step.numel() >= 1, "lsq: empty step tensor");
  TORCH_CHECK(!offset.defined() || offset.sizes() == step.sizes(), "lsq: offset shape ", offset.sizes(),
              " differs from step shape ", step.sizes());
  TORCH_CHECK(!range.sign || (range.qn == 1 && range.qp == 1), "lsq: the sign code needs Q_N = Q_P = 1, got ",
              range.qn, ", ", range.qp);
  return LsqFunction::apply(x, step, offset.defined() ? std::optional<at::Tensor>(offset) : std::nullopt,
                            static_cast<double>(range.qn), static_cast<double>(range.qp), range.sign, grad_scale,
                            channel_dim);
}

at::Tensor lsq_values(const at::Tensor& x, const LsqGrid& grid) {
  return kernels::lsq_forward(x, grid.step, grid.offset,
                              {static_cast<double>(grid.range.qn), static_cast<double>(grid.range.qp), grid.channel_dim,
                               grid.range.sign});
}

}  // namespace lowbit::ops
