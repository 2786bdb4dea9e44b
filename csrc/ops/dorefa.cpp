#include <lowbit/csrc/ops/dorefa.h>

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
  const auto t = at::tanh(w);
  return 2 * dorefa_quantize(t / (2 * t.abs().max()) + 0.5, bits) - 1;
}

at::Tensor dorefa_activation(const at::Tensor& x, int64_t bits) { return dorefa_quantize(at::clamp(x, 0, 1), bits); }

}  // namespace lowbit::ops
