#pragma once
// A batch norm, the residual addition and ReActNet's RPReLU fused: the tail of a ReActNet residual
// unit (modules/layers/binary_residual_unit.h),
//   y = PReLU_beta(BN(x) + residual + gamma) + zeta          (per channel of dim 1)
// Forward: the batch's per-channel mean and variance in one pass (kernels/channel_moments.h; the
// running statistics updated as torch::batch_norm updates them), then the fused RPReLU's one
// element-wise pass (csrc/ops/rprelu.h) with BN(x) = x scale_c + shift_c folded in.
//
// Kept for the backward: the output y, one bit per element (t > 0) and the residual, not x. The
// backward recovers the batch norm's normalised input from the output, as In-Place ABN (Rota Bulo,
// Porzi & Kontschieder, CVPR 2018) recovers it from its activation's output: t from y and the bit
// (as the fused RPReLU does), then c_hat = (t - residual - gamma - bias) / weight
// (ops/rprelu_math.h). In a ReActNet the residual is kept anyway (the previous unit's output, which
// that unit's RPReLU keeps), so a unit keeps y and the bits where the composition keeps the batch
// norm's input as well: the largest activation a binary ResNet keeps per unit.
// Exactness: the recovered c_hat differs from the batch norm's own by rounding, about
// eps (|t| + |residual| + |gamma| + |bias|) / |weight| (eps: the dtype's) plus the recovered t's
// error (csrc/ops/rprelu.h); the gradients, dL/dx included, are within that rounding of the
// composition's. It fuses only where that is well conditioned: every |beta_c| and every
// |weight_c| >= kRecoverableSlope (1/16), x, the residual and the parameters all float or all
// double, x dense (contiguous or channels-last), and, with the batch's statistics, more than one
// value per channel. Otherwise it computes the composition, torch::batch_norm then ops::rprelu
// (under autocast, for instance, whose half x meets float parameters). Deciding reads beta and
// weight on the host (on CUDA one stream synchronisation per call that records a backward).

#include <ATen/core/Tensor.h>

namespace lowbit::ops {

// torch::batch_norm's arguments; weight, bias and the running statistics may be undefined.
struct BatchNormState {
  at::Tensor weight, bias, running_mean, running_var;
  bool batch_statistics = true;  // normalise with the batch's mean and variance (training)
  double momentum = 0.1, eps = 1e-5;
};

// overwrite_input: y may be written over x (returned then; for an x nothing reads afterwards, as a
// convolution's output that only this batch norm reads).
at::Tensor batch_norm_rprelu(const at::Tensor& x, const at::Tensor& residual, const BatchNormState& bn,
                             const at::Tensor& gamma, const at::Tensor& beta, const at::Tensor& zeta,
                             bool overwrite_input = false);

}  // namespace lowbit::ops
