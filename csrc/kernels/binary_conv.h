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
#include <tuple>

namespace lowbit::kernels {

// w [C_out, C_in, kh, kw] floating point -> (bits int64 [C_out, kh kw ceil(C_in / 64)], tap_sums
// int32 [C_out, kh kw]): signs as pack_sign_bits reads them (x < 0 is -1), tap by tap (ky, kx).
std::tuple<at::Tensor, at::Tensor> pack_conv_weight(const at::Tensor& w);

// x [N, C, H, W] floating point -> int64 [N, H, W, ceil(C / 64)]: each pixel's channel signs.
at::Tensor pack_pixels(const at::Tensor& x);

struct BinaryConvGeometry {
  int64_t in_channels;
  std::array<int64_t, 2> kernel, stride, padding;
};

// -> int32 [N, H_out, W_out, C_out] (channels-last), the exact +-1 convolution. CPU tensors.
at::Tensor binary_conv2d(const at::Tensor& x_pixels, const at::Tensor& w_bits, const at::Tensor& tap_sums,
                         const BinaryConvGeometry& geometry);

}  // namespace lowbit::kernels
