#pragma once
// The mean and the biased variance of x per channel of dim 1, over every other dim: a batch norm's
// batch statistics, for the batch norm fused into ReActNet's RPReLU (csrc/ops/batch_norm_rprelu.h).
// CPU: one pass of float64 sums of d = x - x_c (x_c: the channel's first element, the shifted data
// of Chan, Golub & LeVeque 1983, so that var = (sum d^2 - (sum d)^2 / n) / n cancels little),
// partial sums per block (deterministic); CUDA: ATen's var_mean.

#include <ATen/core/Tensor.h>

namespace lowbit::kernels {

// [2, C] float64: the means, then the variances. x: [N, C, ...], contiguous or channels-last.
at::Tensor channel_moments(const at::Tensor& x);

namespace cpu {
at::Tensor channel_moments(const at::Tensor& x);
}  // namespace cpu
namespace cuda {
at::Tensor channel_moments(const at::Tensor& x);
}  // namespace cuda

}  // namespace lowbit::kernels
