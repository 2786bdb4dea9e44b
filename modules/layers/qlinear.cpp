#include <lowbit/modules/layers/qlinear.h>

#include <lowbit/modules/layers/quantized_weights.h>
#include <lowbit/modules/taps/taps.h>

#include <torch/csrc/autograd/grad_mode.h>
#include <torch/nn/functional/linear.h>

namespace lowbit::layers {

QLinearImpl::QLinearImpl(QLinearOptions options_) : options(std::move(options_)) { reset(); }

void QLinearImpl::reset() {
  TORCH_CHECK_VALUE(options.in_features() > 0 && options.out_features() > 0,
                    "QLinear: in_features and out_features must be positive, got ", options.in_features(), ", ",
                    options.out_features());
  weight = register_parameter("weight", torch::empty({options.out_features(), options.in_features()}));
  bias = options.bias() ? register_parameter("bias", torch::empty({options.out_features()})) : torch::Tensor();
  reset_parameters();
  std::tie(weight_quantizer, input_quantizer) =
      adopt_quantizers(*this, describe(*this), options.weight_quantizer(), options.input_quantizer());
}

void QLinearImpl::reset_parameters() { init_like_torch(weight, bias); }

void QLinearImpl::on_step_end() { quant::settle_latent_weight(*weight_quantizer, weight); }

torch::Tensor QLinearImpl::forward(const torch::Tensor& input) {
  TORCH_CHECK(input.dim() >= 1 && input.size(-1) == options.in_features(), describe(*this), ": expected input [..., ",
              options.in_features(), "], got shape ", input.sizes());
  // Quantized operands kept for the backward in less than their values where their quantizers
  // allow (csrc/ops/kept_operands.h).
  const auto x = quantized_operand(*input_quantizer, input);
  const auto w = quantized_operand(*weight_quantizer, weight);
  auto output = torch::GradMode::is_enabled() && any_compact(x, w)
                    ? ops::linear_of(x, w, bias)
                    : torch::nn::functional::linear(x.values, w.values, bias);
  if (taps::recording()) taps::publish(*this, "output", output);
  return output;
}

void QLinearImpl::pretty_print(std::ostream& stream) const {
  stream << "lowbit::layers::QLinear(in_features=" << options.in_features()
         << ", out_features=" << options.out_features() << ", bias=" << options.bias() << ")";
}

std::string describe(const QLinearImpl& linear) {
  return "QLinear(" + std::to_string(linear.options.in_features()) + "->" +
         std::to_string(linear.options.out_features()) + ")";
}

}  // namespace lowbit::layers
