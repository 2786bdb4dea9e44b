#pragma once
// Element-wise formulas of the fused RPReLU (csrc/ops/rprelu.h), shared by the CPU and CUDA kernels
// (no LibTorch), in the operation order of the composition prelu(x + r + gamma, beta) + zeta:
//   t = (x + r) + gamma_c,  p = t > 0 ? t : beta_c t,  y = p + zeta_c         (each rounded to T)
//   dL/dt = t > 0 ? g : beta_c g   (= dL/dx = dL/dr),  dL/dgamma_c = sum dL/dt,  dL/dzeta_c = sum g,
//   dL/dbeta_c = sum over t <= 0 of g t                                           (as ATen's prelu)
// The backward knows t > 0 from a saved bit; t itself is either saved or recovered from the output
// as t = (y - zeta_c) / beta_c where t <= 0 (kernels/rprelu.h says when).

#include <lowbit/csrc/ops/ste.h>  // LOWBIT_HOST_DEVICE

namespace lowbit::ops {

// t rounded to T as the composition's two additions give it; `has_residual` false: t = x + gamma.
template <typename T, typename Acc>
LOWBIT_HOST_DEVICE inline T rprelu_input(T x, T r, Acc gamma, bool has_residual) {
  const T sum = has_residual ? T(Acc(x) + Acc(r)) : x;
  return T(Acc(sum) + gamma);
}

template <typename T, typename Acc>
LOWBIT_HOST_DEVICE inline T rprelu_value(T t, Acc beta, Acc zeta) {
  const T p = Acc(t) > Acc(0) ? t : T(beta * Acc(t));
  return T(Acc(p) + zeta);
}

// t where it is not positive, from what the backward kept: t itself, or the output y.
template <typename T, typename Acc>
LOWBIT_HOST_DEVICE inline Acc rprelu_negative_input(T saved, Acc zeta, Acc inv_beta, bool saved_is_output) {
  return saved_is_output ? (Acc(saved) - zeta) * inv_beta : Acc(saved);
}

}  // namespace lowbit::ops
