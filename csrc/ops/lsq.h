#pragma once
// Learned step size quantization (LSQ, Esser et al. ICLR 2020) and its asymmetric form with a
// learnable offset (LSQ+, Bhalgat et al. CVPRW 2020):
//   v_hat = L(clamp((v - beta)/s, -Q_N, Q_P)) * s + beta,   L = round
//   signed b-bit:   Q_N = 2^(b-1), Q_P = 2^(b-1) - 1;   unsigned b-bit: Q_N = 0, Q_P = 2^b - 1
//   signed 1-bit:   Q_N = Q_P = 1 and L = sign, the code {-1, +1} (round() on [-1, 0] would have
//                   no positive level); Bi-ViT's ActBi / LinearBi (Li et al. AAAI 2024, Bi_Quant.py)
// Backward (u = (v - beta)/s):
//   dL/dv    = G * 1[-Q_N <= u <= Q_P]
//   dL/ds    = g * sum G * (L(u) - u inside, -Q_N below, Q_P above)
//   dL/dbeta = g * sum G * 1[u outside]
// with the gradient scale g = 1/sqrt(N * Q_P) applied to s and beta. `step` (and `offset`) hold
// one value, or one per slice along `channel_dim`. Fused CPU/CUDA kernels: csrc/kernels/lsq.h.

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace lowbit::ops {

struct LsqRange {
  int64_t qn, qp;
  bool sign = false;  // levels sign(u) instead of round(u): the signed 1-bit code
};

// The integer range of a b-bit code, b in [1, 32]; signed 1-bit is {1, 1, sign}.
LsqRange lsq_range(int64_t bits, bool is_signed);

// `offset` may be an undefined tensor (plain LSQ).
at::Tensor lsq_quantize(const at::Tensor& x, const at::Tensor& step, const at::Tensor& offset, LsqRange range,
                        double grad_scale, int64_t channel_dim = 0);

// The grid an LSQ output lies on: v_hat = L step + offset, one step (and offset) per slice along
// channel_dim or one in all.
struct LsqGrid {
  at::Tensor step, offset;  // offset may be undefined
  LsqRange range;
  int64_t channel_dim = 0;
};

// The values lsq_quantize(x, grid...) gave, recomputed without autograd by the same kernel.
at::Tensor lsq_values(const at::Tensor& x, const LsqGrid& grid);

}  // namespace lowbit::ops
