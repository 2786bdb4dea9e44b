#include <lowbit/csrc/ops/batch_norm_rprelu.h>

#include <lowbit/csrc/kernels/channel_moments.h>
#include <lowbit/csrc/kernels/rprelu.h>
#include <lowbit/csrc/ops/rprelu.h>

#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>

#include <optional>
#include <tuple>

namespace lowbit::ops {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;
using OptionalTensor = std::optional<at::Tensor>;

OptionalTensor optional_of(const at::Tensor& t) { return t.defined() ? OptionalTensor(t) : std::nullopt; }

// Without affine parameters the batch norm's weight is 1 and its bias 0.
at::Tensor weight_or_ones(const OptionalTensor& weight, const at::Tensor& like) {
  return weight.has_value() ? weight->reshape(-1) : at::ones({like.numel()}, like.options());
}
at::Tensor bias_or_zeros(const OptionalTensor& bias, const at::Tensor& like) {
  return bias.has_value() ? bias->reshape(-1) : at::zeros({like.numel()}, like.options());
}

// The batch norm as x scale + shift per channel (as ATen's CPU kernel forms it), in x's dtype:
// scale = weight invstd, shift = bias - mean scale.
std::tuple<at::Tensor, at::Tensor> folded(const at::Tensor& weight, const at::Tensor& bias, const at::Tensor& mean,
                                          const at::Tensor& invstd, at::ScalarType dtype) {
  const auto scale = (weight.to(at::kDouble) * invstd).to(dtype);
  return {scale, (bias.to(at::kDouble) - mean * scale.to(at::kDouble)).to(dtype)};
}

class BatchNormRPReLUFunction : public torch::autograd::Function<BatchNormRPReLUFunction> {
 public:
  // Optional tensors: an undefined Tensor argument is not a variable input. mean and invstd: the
  // statistics the forward normalises with, float64 [C].
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const OptionalTensor& residual_,
                            const OptionalTensor& weight_, const OptionalTensor& bias_, const at::Tensor& gamma,
                            const at::Tensor& beta, const at::Tensor& zeta, const at::Tensor& mean,
                            const at::Tensor& invstd, bool batch_statistics, bool in_place) {
    const auto residual = residual_.value_or(at::Tensor());
    const auto weight = weight_or_ones(weight_, gamma), bias = bias_or_zeros(bias_, gamma);
    const auto [scale, shift] = folded(weight, bias, mean, invstd, x.scalar_type());
    at::Tensor y = x, positive;
    if (in_place) {
      positive = std::get<0>(kernels::rprelu_forward_(x, residual, gamma, beta, zeta, false, scale, shift));
      ctx->mark_dirty({x});
    } else {
      std::tie(y, positive, std::ignore) = kernels::rprelu_forward(x, residual, gamma, beta, zeta, false, scale, shift);
    }
    ctx->saved_data["batch_statistics"] = batch_statistics;
    ctx->saved_data["affine"] = weight_.has_value();
    ctx->save_for_backward({y, positive, residual, weight, bias, gamma, beta, zeta, invstd.to(x.scalar_type())});
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad) {
    const auto saved = ctx->get_saved_variables();
    const auto &residual = saved[2], &weight = saved[3], &bias = saved[4], &gamma = saved[5], &beta = saved[6],
               &zeta = saved[7];
    auto [grad_t, grad_x, sums] = kernels::batch_norm_rprelu_backward(
        grad[0], saved[0], saved[1], residual, gamma, beta, zeta, weight, bias, saved[8],
        ctx->saved_data["batch_statistics"].toBool());
    const auto as_parameter = [&](int64_t k, const at::Tensor& p) {
      return sums[k].to(p.scalar_type()).reshape(p.sizes());
    };
    const bool affine = ctx->saved_data["affine"].toBool();  // else weight and bias are the constants 1 and 0
    return {grad_x,
            residual.defined() ? grad_t : at::Tensor(),
            affine ? as_parameter(3, weight) : at::Tensor(),
            affine ? as_parameter(0, bias) : at::Tensor(),
            as_parameter(0, gamma),
            as_parameter(1, beta),
            as_parameter(2, zeta),
            at::Tensor(),
            at::Tensor(),
            at::Tensor(),
            at::Tensor()};
  }
};

bool requires_grad(const at::Tensor& t) { return t.defined() && t.requires_grad(); }

// Whether the fused kernels compute this call (csrc/ops/batch_norm_rprelu.h says when).
bool fusable(const at::Tensor& x, const at::Tensor& residual, const BatchNormState& bn, const at::Tensor& gamma,
             const at::Tensor& beta, const at::Tensor& zeta, bool records) {
  const auto dtype = x.scalar_type();
  if (dtype != at::kFloat && dtype != at::kDouble) return false;
  if (!(x.device().is_cpu() || x.device().is_cuda()) || x.dim() < 2) return false;
  if (!x.is_contiguous() && !x.is_contiguous(at::MemoryFormat::ChannelsLast)) return false;
  for (const auto* t : {&residual, &bn.weight, &bn.bias}) {
    if (t->defined() && t->scalar_type() != dtype) return false;
  }
  for (const auto* t : {&gamma, &beta, &zeta}) {
    if (t->scalar_type() != dtype) return false;
  }
  if (residual.defined() && residual.sizes() != x.sizes()) return false;  // the composition names the culprit
  if (bn.batch_statistics && x.numel() <= x.size(1)) return false;        // as does torch::batch_norm
  if (!records) return true;
  const auto slopes = bn.weight.defined() ? at::cat({beta.detach().reshape(-1), bn.weight.detach().reshape(-1)})
                                          : beta.detach().reshape(-1);
  return (slopes.abs() >= kRecoverableSlope).all().item<bool>();
}

}  // namespace

at::Tensor batch_norm_rprelu(const at::Tensor& x, const at::Tensor& residual, const BatchNormState& bn,
                             const at::Tensor& gamma, const at::Tensor& beta, const at::Tensor& zeta,
                             bool overwrite_input) {
  TORCH_CHECK(bn.batch_statistics || (bn.running_mean.defined() && bn.running_var.defined()),
              "batch_norm_rprelu: normalising with running statistics needs running_mean and running_var");
  const bool records = at::GradMode::is_enabled() &&
                       (x.requires_grad() || requires_grad(residual) || requires_grad(bn.weight) ||
                        requires_grad(bn.bias) || gamma.requires_grad() || beta.requires_grad() ||
                        zeta.requires_grad());
  if (!fusable(x, residual, bn, gamma, beta, zeta, records)) {
    const auto normalised = at::batch_norm(x, bn.weight, bn.bias, bn.running_mean, bn.running_var,
                                           bn.batch_statistics, bn.momentum, bn.eps,
                                           at::globalContext().userEnabledCuDNN());
    return rprelu(normalised, residual, gamma, beta, zeta, /*overwrite_input=*/true);
  }
  at::Tensor mean, invstd;
  {
    const at::NoGradGuard no_grad;
    if (bn.batch_statistics) {
      const auto moments = kernels::channel_moments(x.detach());
      mean = moments[0];
      const auto var = moments[1];
      invstd = (var + bn.eps).rsqrt();
      // As torch::batch_norm: the running variance with the unbiased variance.
      const double count = static_cast<double>(x.numel() / x.size(1));
      if (bn.running_mean.defined()) {
        bn.running_mean.mul_(1 - bn.momentum).add_(mean.to(bn.running_mean.scalar_type()), bn.momentum);
      }
      if (bn.running_var.defined()) {
        bn.running_var.mul_(1 - bn.momentum)
            .add_((var * (count / (count - 1))).to(bn.running_var.scalar_type()), bn.momentum);
      }
    } else {
      mean = bn.running_mean.to(at::kDouble);
      invstd = (bn.running_var.to(at::kDouble) + bn.eps).rsqrt();
    }
  }
  if (!records) {
    const auto [scale, shift] = folded(weight_or_ones(optional_of(bn.weight), gamma),
                                       bias_or_zeros(optional_of(bn.bias), gamma), mean, invstd, x.scalar_type());
    if (!overwrite_input) return std::get<0>(kernels::rprelu_forward(x, residual, gamma, beta, zeta, false, scale, shift));
    kernels::rprelu_forward_(x, residual, gamma, beta, zeta, false, scale, shift);
    return x;
  }
  // In place as torch's in-place ops: not over a leaf that requires grad, nor over a view.
  const bool in_place = overwrite_input && !(x.is_leaf() && x.requires_grad()) && !x.is_view();
  return BatchNormRPReLUFunction::apply(x, optional_of(residual), optional_of(bn.weight), optional_of(bn.bias), gamma,
                                        beta, zeta, mean, invstd, bn.batch_statistics, in_place);
}

}  // namespace lowbit::ops
