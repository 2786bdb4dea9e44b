#pragma once
// ReActNet's RPReLU after the residual addition of a binary residual unit, fused (Liu et al. ECCV
// 2020; modules/layers/rprelu.h):
//   y = PReLU_beta(x + residual + gamma) + zeta     (per channel of dim 1; residual may be undefined)
// one element-wise pass each way (kernels/rprelu.h, formulas csrc/ops/rprelu_math.h) instead of two
// additions, a prelu and an addition forward, and their four backwards with three reductions.
//
// Kept for the backward: one bit per element, 1[t > 0] (t = x + residual + gamma), and either the
// output y or t. With every |beta_c| >= kRecoverableSlope the output is kept: the layers after an
// RPReLU keep it anyway (ReActNet's next RSign and its shortcut), so the activation adds 1 bit per
// element instead of a float, and where t <= 0 the backward recovers t = (y - zeta_c) / beta_c for
// dL/dbeta. The input gradients are exactly the composition's; each recovered t is within
// rounding of max(|y|, |zeta_c|) eps / |beta_c| (eps: the dtype's) of the composition's t, which
// only dL/dbeta uses. A smaller slope (PReLU can learn one near 0, where y no longer determines t)
// keeps t instead. Deciding reads beta on the host: on CUDA, one stream synchronisation per call
// that records a backward.
// Under autocast, x, residual and the parameters are promoted to one dtype first (the
// composition adds x and residual in their own dtype and then promotes).

#include <ATen/core/Tensor.h>

namespace lowbit::ops {

constexpr double kRecoverableSlope = 1.0 / 16;

// overwrite_input: y may be written over x when x is dense and of the dtype the op computes in
// (x is then returned; as torch's relu_, for an x that nothing else reads afterwards).
at::Tensor rprelu(const at::Tensor& x, const at::Tensor& residual, const at::Tensor& gamma, const at::Tensor& beta,
                  const at::Tensor& zeta, bool overwrite_input = false);

}  // namespace lowbit::ops
