#pragma once
// Ternary weights {-alpha, 0, +alpha}, TWN's rule (Li et al. 2016), per output channel (dim 0,
// TerViT stage 2, ../shared/methods/tervit.md section 4) or per tensor:
//   Delta_c = delta * mean_i |W_ci|                     (delta = 0.7, TWN's Gaussian-optimal constant)
//   M_ci    = 1[|W_ci| > Delta_c]
//   alpha_c = sum_i |W_ci| M_ci / max(1, sum_i M_ci)
//   W_t     = alpha_c * sign(W_ci) * M_ci
// Delta and alpha are recomputed every forward from the latent W and detached; the backward is a
// straight-through estimator (csrc/ops/ste.h): identity (TWN, TernaryBERT; the default) or clipped.
// Fused (kernels/weight_quantizers.h): a pass each for sum |W| and for the kept sum and count, one
// for W_t; the backward keeps W, the parameter itself.

#include <lowbit/csrc/ops/ste.h>

#include <ATen/core/Tensor.h>

namespace lowbit::ops {

struct TernaryScale {
  at::Tensor threshold;  // Delta, shaped to broadcast against W
  at::Tensor alpha;      // alpha, likewise
};

TernaryScale ternary_scale(const at::Tensor& w, double delta, bool per_channel);

at::Tensor ternarize(const at::Tensor& w, double delta, bool per_channel, Ste ste);

}  // namespace lowbit::ops
