#pragma once
// y = sign(x + b), b one value per channel of x along dim 1 ([C] or [1, C, 1, ...]), with the
// straight-through estimator `ste` (csrc/ops/ste.h) evaluated at x + b:
//   dL/dx = g * ste'(x + b),   dL/db_c = sum over the elements of channel c of dL/dx.
// ReActNet's RSign (Liu et al. 2020, eq. 1: sign(x - alpha); the code adds its learnable
// bias, as here) with ApproxSign. One fused pass forward, one backward and the per-channel sum
// (kernels/shifted_sign.h) instead of an add, a sign, the estimator and a reduction; x and b are
// kept for the backward (ApproxSign needs |x + b|), the same bytes as keeping x + b.

#include <lowbit/csrc/ops/ste.h>

#include <ATen/core/Tensor.h>

namespace lowbit::ops {

at::Tensor shifted_sign(const at::Tensor& x, const at::Tensor& shift, Ste ste);

}  // namespace lowbit::ops
