#include <lowbit/modules/layers/quantized_weights.h>

#include <torch/nn/init.h>

#include <cmath>

namespace lowbit::layers {

void init_like_torch(torch::Tensor& weight, torch::Tensor& bias) {
  torch::nn::init::kaiming_uniform_(weight, std::sqrt(5.0));
  if (bias.defined()) {
    const auto fan_in = std::get<0>(torch::nn::init::_calculate_fan_in_and_fan_out(weight));
    const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
    torch::nn::init::uniform_(bias, -bound, bound);
  }
}

std::pair<quant::Quantizer, quant::Quantizer> adopt_quantizers(torch::nn::Module& layer, const std::string& layer_name,
                                                               const quant::Quantizer& weight_prototype,
                                                               const quant::Quantizer& input_prototype) {
  auto weight_quantizer = layer.register_module("weight_quantizer", quant::adopt_weight(weight_prototype));
  try {
    weight_quantizer->check_shape(layer.named_parameters(false)["weight"].sizes());
  } catch (const c10::Error& e) {
    TORCH_CHECK(false, layer_name, ": weight quantizer: ", e.msg());
  }
  quant::Quantizer input_quantizer{nullptr};
  try {
    input_quantizer = layer.register_module("input_quantizer", quant::adopt(input_prototype));
  } catch (const c10::Error& e) {
    TORCH_CHECK_VALUE(false, layer_name, ": input quantizer: ", e.msg());
  }
  return {weight_quantizer, input_quantizer};
}

ops::Operand quantized_operand(quant::QuantizerImpl& quantizer, const torch::Tensor& source) {
  using Kept = ops::Operand::Kept;
  auto quantized = quantizer.forward_with_grid(source);
  if (quantizer.outputs_signs()) return {quantized.values, Kept::Signs};
  if (quantizer.outputs_scaled_signs()) return {quantized.values, Kept::ScaledSigns};
  if (quantized.grid) return {quantized.values, Kept::Grid, source, std::move(quantized.grid)};
  return {quantized.values, Kept::Values};
}

}  // namespace lowbit::layers
