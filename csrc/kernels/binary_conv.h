#pragma once
// Binary 2-D convolution on packed bits, through the binary GEMM (kernels/binary_gemm.h): the
// input's channels packed per pixel (channels-last, ceil(C / 64) words), a packed im2col of those
// word runs, one GEMM against the weight packed tap by tap in the same order. Exact in integers:
//   y[n, oy, ox, o] = sum_{c, ky, kx} x+-[n, c, iy, ix] w+-[o, c, ky, kx]   (0 outside the image)
// Zero padding has no +-1 code: im2col writes +1 (bit 0) for a padded tap, and the output subtracts
// what those taps added, sum over the padded taps of tap_sums[o, tap] = sum_c w+-[o, c, tap].
// Dilation 1, one group.

#include <ATen/core/Tensor.h>

#include <array>
#include <optional>
#include <tuple>

namespace lowbit::kernels {

// w [C_out, C_in, kh, kw] floating point -> (bits int64 [C_out, kh kw ceil(C_in / 64)], tap_sums
// int32 [C_out, kh kw]): signs as pack_sign_bits reads them (x < 0 is -1), tap by tap (ky, kx).
std::tuple<at::Tensor, at::Tensor> pack_conv_weight(const at::Tensor& w);

// x [N, C, H, W] floating point -> int64 [N, H, W, ceil(C / 64)]: each pixel's channel signs, of
// x + shift with `shift` [C] (pack_sign_bits). A channels-last x is read in place.
at::Tensor pack_pixels(const at::Tensor& x, const std::optional<at::Tensor>& shift = std::nullopt);

struct BinaryConvGeometry {
  int64_t in_channels;
  std::array<int64_t, 2> kernel, stride, padding;
};

// -> int32 [N, H_out, W_out, C_out] (channels-last), the exact +-1 convolution. CPU tensors.
at::Tensor binary_conv2d(const at::Tensor& x_pixels, const at::Tensor& w_bits, const at::Tensor& tap_sums,
                         const BinaryConvGeometry& geometry);

// The per-channel float [C] constants turning a binary convolution's sums into its layer's output.
struct ConvEpilogue {
  at::Tensor alpha;         // the weight's scale per output channel
  at::Tensor scale, shift;  // the batch norm after it, folded: x scale + shift
  at::Tensor gamma, slope, offset;  // RPReLU after the residual addition (gamma 0, slope 1, offset 0: none)
};

// acc int32 [N, H, W, C] (binary_conv2d) and `residual` (float [N, C, H, W], or undefined for none)
// -> float [N, C, H, W] in channels-last memory, one pass, rounded step by step as the training
// graph's ops round them (csrc/ops/rprelu_math.h):
//   c = acc alpha,  x = c scale + shift,  t = (x + residual) + gamma,  y = (t > 0 ? t : slope t) + offset
at::Tensor binary_conv_epilogue(const at::Tensor& acc, const ConvEpilogue& e, const at::Tensor& residual);

// binary_conv_epilogue(binary_conv2d(...), e, residual) in one pass: where the binary GEMM's
// narrow path takes the weight (an AVX-512 VPOPCNTDQ CPU, the weight transposed within 384 KiB:
// cpu/narrow_gemm.h), the integer sums go from the GEMM's registers through the padding
// correction and the epilogue into the float output, never stored; elsewhere the two calls.
// With `output_pixels`, also pack_pixels(output, output_shift) (the next binary convolution's
// input), on the narrow path from the output values in registers.
at::Tensor binary_conv2d_epilogue(const at::Tensor& x_pixels, const at::Tensor& w_bits, const at::Tensor& tap_sums,
                                  const BinaryConvGeometry& g, const ConvEpilogue& e, const at::Tensor& residual,
                                  at::Tensor* output_pixels = nullptr,
                                  const std::optional<at::Tensor>& output_shift = std::nullopt);

}  // namespace lowbit::kernels
