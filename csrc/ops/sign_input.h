#pragma once
// Convolution and linear layers whose input is in {-1, 0, +1} (the output of sign or rsign),
// keeping that input for the backward as two bit planes (csrc/ops/bit_planes.h: 2 bits a value
// instead of 32) and unpacking it for the weight gradient. Forward, gradients and dtypes are
// those of at::conv2d / at::linear on the same tensors: the input gradient needs only the
// weight, the weight gradient the unpacked ±1 input, exactly the saved one. Under autocast the
// backward computes in the gradient's dtype, as the forward did, and returns each gradient in
// its input's dtype. An input outside {-1, 0, +1} would come back as its sign: only quantizers
// that say so (QuantizerImpl::outputs_signs) lead here.
// weight_scaled_signs: the weight is, per slice along dim 0, in {-s, 0, +s} (a binary or ternary
// weight quantizer's output, QuantizerImpl::outputs_scaled_signs); it is then kept as two bit
// planes and one magnitude per slice, and comes back exactly. Otherwise the weight is kept.

#include <ATen/core/Tensor.h>

#include <vector>

namespace lowbit::ops {

struct Conv2dArgs {
  std::vector<int64_t> stride, padding, dilation;
  int64_t groups = 1;
};

at::Tensor conv2d_of_signs(const at::Tensor& signs, const at::Tensor& weight, const at::Tensor& bias,
                           const Conv2dArgs& args, bool weight_scaled_signs = false);
at::Tensor linear_of_signs(const at::Tensor& signs, const at::Tensor& weight, const at::Tensor& bias,
                           bool weight_scaled_signs = false);

}  // namespace lowbit::ops
