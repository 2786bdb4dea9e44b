#pragma once
// What QConv2d and QLinear share: torch's initialisation of a weight and bias, and the adoption
// of the quantizer prototypes from their options as the child modules "weight_quantizer" and
// "input_quantizer".

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

}  // namespace lowbit::layers
