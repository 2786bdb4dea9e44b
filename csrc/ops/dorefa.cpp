#include <lowbit/csrc/ops/dorefa.h>

#include <lowbit/csrc/kernels/activation_quantizers.h>
#include <lowbit/csrc/kernels/weight_quantizers.h>
#include <lowbit/csrc/ops/sign.h>

#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>

namespace lowbit::ops {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

class RoundSteFunction : public torch::autograd::Function<RoundSteFunction> {
 public:
  static at::Tensor forward(AutogradContext*, const at::Tensor& x) { return at::round(x); }
  static variable_list backward(AutogradContext*, variable_list grad) { return {grad[0]}; }
};

// k > 1 weights, fused with their tanh; t = tanh(w) and (max |t|, ties) kept for the backward.
class DorefaWeightFunction : public torch::autograd::Function<DorefaWeightFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& w, int64_t bits) {
    auto [out, t, max_ties] = kernels::dorefa_weight_forward(w, bits);
    ctx->saved_data["bits"] = bits;
    ctx->save_for_backward({t, max_ties});
    return out;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grad) {
    const auto saved = ctx->get_saved_variables();
    return {kernels::dorefa_weight_backward(grad[0], saved[0], saved[1], ctx->saved_data["bits"].toInt()),
            at::Tensor()};
  }
};

// Activations: one pass each way, x kept for the backward's 1[0 <= x <= 1].
class DorefaActivationFunction : public torch::autograd::Function<DorefaActivationFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, int64_t bits) {
    ctx->save_for_backward({x});
    return kernels::dorefa_activation_forward(x, bits);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grad) {
    return {kernels::dorefa_activation_backward(grad[0], ctx->get_saved_variables()[0]), at::Tensor()};
  }
};

void check_bits(int64_t bits) { TORCH_CHECK_VALUE(bits >= 1 && bits <= 32, "bits must be in [1, 32], got ", bits); }

}  // namespace

at::Tensor round_ste(const at::Tensor& x) { return RoundSteFunction::apply(x); }

at::Tensor dorefa_quantize(const at::Tensor& x, int64_t bits) {
  check_bits(bits);
  const double levels = std::ldexp(1.0, static_cast<int>(bits)) - 1;
  return round_ste(x * levels) / levels;
}

at::Tensor dorefa_weight(const at::Tensor& w, int64_t bits) {
  check_bits(bits);
  if (bits == 1) {
    const auto e = w.detach().abs().mean();
    return e * sign(w / e, Ste::Identity);
  }
  return DorefaWeightFunction::apply(w, bits);
}

at::Tensor dorefa_activation(const at::Tensor& x, int64_t bits) {
  check_bits(bits);
  return DorefaActivationFunction::apply(x, bits);
}

}  // namespace lowbit::ops
