#include <lowbit/csrc/ops/rprelu.h>

#include <lowbit/csrc/kernels/rprelu.h>

#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>

#include <optional>
#include <tuple>

namespace lowbit::ops {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

class RPReLUFunction : public torch::autograd::Function<RPReLUFunction> {
 public:
  // residual as an optional: an undefined Tensor argument is not a variable input.
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const std::optional<at::Tensor>& residual_,
                            const at::Tensor& gamma, const at::Tensor& beta, const at::Tensor& zeta,
                            bool keep_output, bool in_place) {
    const auto residual = residual_.value_or(at::Tensor());
    at::Tensor y = x, positive, t;
    if (in_place) {
      std::tie(positive, t) = kernels::rprelu_forward_(x, residual, gamma, beta, zeta, !keep_output);
      ctx->mark_dirty({x});
    } else {
      std::tie(y, positive, t) = kernels::rprelu_forward(x, residual, gamma, beta, zeta, !keep_output);
    }
    ctx->saved_data["keep_output"] = keep_output;
    ctx->saved_data["x_dtype"] = x.scalar_type();
    ctx->saved_data["residual_dtype"] = residual.defined() ? c10::IValue(residual.scalar_type()) : c10::IValue();
    ctx->save_for_backward({keep_output ? y : t, positive, gamma, beta, zeta});
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad) {
    const auto saved = ctx->get_saved_variables();
    const auto &gamma = saved[2], &beta = saved[3], &zeta = saved[4];
    auto [grad_t, sums] =
        kernels::rprelu_backward(grad[0], saved[0], saved[1], beta, zeta, ctx->saved_data["keep_output"].toBool());
    const auto as_parameter = [&](int64_t k, const at::Tensor& p) {
      return sums[k].to(p.scalar_type()).reshape(p.sizes());
    };
    const auto& residual_dtype = ctx->saved_data["residual_dtype"];
    return {grad_t.to(ctx->saved_data["x_dtype"].toScalarType()),
            residual_dtype.isNone() ? at::Tensor() : grad_t.to(residual_dtype.toScalarType()),
            as_parameter(0, gamma),
            as_parameter(1, beta),
            as_parameter(2, zeta),
            at::Tensor(),
            at::Tensor()};
  }
};

}  // namespace

at::Tensor rprelu(const at::Tensor& x, const at::Tensor& residual, const at::Tensor& gamma, const at::Tensor& beta,
                  const at::Tensor& zeta, bool overwrite_input) {
  auto dtype = at::promote_types(x.scalar_type(), gamma.scalar_type());
  if (residual.defined()) dtype = at::promote_types(dtype, residual.scalar_type());
  const bool in_place = overwrite_input && x.scalar_type() == dtype &&
                        (x.is_contiguous() || x.is_contiguous(at::MemoryFormat::ChannelsLast));
  const bool records = at::GradMode::is_enabled() &&
                       (x.requires_grad() || (residual.defined() && residual.requires_grad()) ||
                        gamma.requires_grad() || beta.requires_grad() || zeta.requires_grad());
  if (!records) {
    if (!in_place) return std::get<0>(kernels::rprelu_forward(x, residual, gamma, beta, zeta, false));
    kernels::rprelu_forward_(x, residual, gamma, beta, zeta, false);
    return x;
  }
  const bool keep_output = (beta.detach().abs() >= kRecoverableSlope).all().item<bool>();
  return RPReLUFunction::apply(x, residual.defined() ? std::optional<at::Tensor>(residual) : std::nullopt, gamma, beta,
                               zeta, keep_output, in_place);
}

}  // namespace lowbit::ops
