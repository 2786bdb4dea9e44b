#pragma once
// Convolution, linear layers and matrix products that keep their quantized operands for the
// backward in fewer bytes than the operands' dtype, each operand in the form its quantizer gives it
// (modules/quant/quantizer.h):
//   Signs       values in {-1, 0, +1} (sign, rsign): two bit planes (csrc/ops/bit_planes.h), 2 bits
//               a value instead of 32
//   ScaledSigns {-s, 0, +s} per slice along dim 0 (binary and ternary weights): the planes and the
//               magnitude s of each slice (the largest |value| there)
//   Grid        LSQ's values L s + beta (lsq, lsq_plus, qvit_act; ops/lsq.h): the quantizer's input,
//               which its own backward keeps anyway, and the grid; the backward recomputes the
//               values with the same kernel
//   Values      the tensor itself
// Every form comes back exactly, so outputs, gradients and dtypes are those of at::conv2d /
// at::linear / at::matmul on the same tensors: each operand's gradient needs the other one. Under autocast the backward computes in the gradient's dtype, as the forward did, and
// returns each gradient in its operand's dtype. A form an operand does not have would come back
// wrong: only quantizers that say so (QuantizerImpl::outputs_signs, outputs_scaled_signs,
// forward_with_grid) lead here.

#include <lowbit/csrc/ops/lsq.h>

#include <ATen/core/Tensor.h>

#include <optional>
#include <vector>

namespace lowbit::ops {

struct Operand {
  enum class Kept : int { Values = 0, Signs = 1, ScaledSigns = 2, Grid = 3 };
  at::Tensor values;              // what the product uses
  Kept kept = Kept::Values;
  at::Tensor source{};            // Grid: the quantizer's input; values = lsq_values(source, *grid)
  std::optional<LsqGrid> grid{};  // Grid
};

struct Conv2dArgs {
  std::vector<int64_t> stride, padding, dilation;
  int64_t groups = 1;
};

// A convolution of a Signs input and a ScaledSigns weight (W1A1: sign or rsign inputs, binary
// weights) computes its forward on the packed kernels where they apply (kernels/binary_conv.h:
// float32 CPU tensors outside autocast, no value 0, one group, dilation 1, a CPU with AVX-512
// VPOPCNTDQ): the same values up to the float rounding of the sums (the packed sums are exact
// integers, times the weight's scale), the backward unchanged. Measured by bench/train_step_bench
// with and without. On by default; set_packed_binary_forward(false) computes every forward with
// at::conv2d.
at::Tensor conv2d_of(const Operand& input, const Operand& weight, const at::Tensor& bias, const Conv2dArgs& args);
void set_packed_binary_forward(bool on);
bool packed_binary_forward();
at::Tensor linear_of(const Operand& input, const Operand& weight, const at::Tensor& bias);
// a b (transpose_b: a b^T) for a [..., M, K] and b [..., K, N] ([..., N, K]) with the same batch dims.
at::Tensor matmul_of(const Operand& a, const Operand& b, bool transpose_b);

}  // namespace lowbit::ops
