#pragma once
// What QConv2d and QLinear share: torch's initialisation of a weight and bias, the adoption of
// the quantizer prototypes from their options as the child modules "weight_quantizer" and
// "input_quantizer", and the form in which they keep a quantized operand for the backward.

#include <lowbit/csrc/ops/kept_operands.h>
#include <lowbit/modules/quant/quantizer.h>

#include <string>
#include <utility>

namespace lowbit::layers {

// torch::nn::Conv2d / Linear initialisation: W ~ kaiming_uniform(a = sqrt(5)),
// b ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)); consumes the generator exactly as they do.
void init_like_torch(torch::Tensor& weight, torch::Tensor& bias);

// Registers deep copies of the prototypes (identity where empty) on `layer`, and checks that the
// weight quantizer fits layer's `weight`; errors are prefixed with `layer_name`.
std::pair<quant::Quantizer, quant::Quantizer> adopt_quantizers(torch::nn::Module& layer, const std::string& layer_name,
                                                               const quant::Quantizer& weight_prototype,
                                                               const quant::Quantizer& input_prototype);

// `quantizer`'s output for `source`, in the most compact form the quantizer vouches for
// (csrc/ops/kept_operands.h): signs, scaled signs, its grid, else the values.
ops::Operand quantized_operand(quant::QuantizerImpl& quantizer, const torch::Tensor& source);

// True when some operand is kept in less than its values.
inline bool any_compact(const ops::Operand& a, const ops::Operand& b) {
  return a.kept != ops::Operand::Kept::Values || b.kept != ops::Operand::Kept::Values;
}

}  // namespace lowbit::layers
