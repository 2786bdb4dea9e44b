#pragma once
// Element-wise formulas of the fused RPReLU (csrc/ops/rprelu.h), shared by the CPU and CUDA kernels
// (no LibTorch), in the operation order of the composition prelu(x + r + gamma, beta) + zeta:
//   t = (x + r) + gamma_c,  p = t > 0 ? t : beta_c t,  y = p + zeta_c         (each rounded to T)
//   dL/dt = t > 0 ? g : beta_c g   (= dL/dx = dL/dr),  dL/dgamma_c = sum dL/dt,  dL/dzeta_c = sum g,
//   dL/dbeta_c = sum over t <= 0 of g t                                           (as ATen's prelu)
// The backward knows t > 0 from a saved bit; t itself is either saved or recovered from the output
// as t = (y - zeta_c) / beta_c where t <= 0 (kernels/rprelu.h says when).
//
// With the batch norm before it fused (csrc/ops/batch_norm_rprelu.h), x is the batch norm's output,
// formed as ATen's CPU kernel forms it, x = c scale_c + shift_c (scale_c = weight_c invstd_c,
// shift_c = bias_c - mean_c scale_c), and the backward recovers the normalised input from the
// output (In-Place ABN, Rota Bulo et al. CVPR 2018):
//   t = (y - zeta_c) (t > 0),  (y - zeta_c) / beta_c (t <= 0);   c_hat = ((t - r) - gamma_c - bias_c) / weight_c
//   dL/dc = k_c dL/dt + k0_c + k1_c c_hat        (k_c = weight_c invstd_c; with the batch's statistics
//   k0_c = -k_c mean(dL/dt), k1_c = -k_c mean(dL/dt c_hat); with running statistics both 0)

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

// The batch norm's output c scale + shift, rounded to T.
template <typename T, typename Acc>
LOWBIT_HOST_DEVICE inline T batch_norm_value(T c, Acc scale, Acc shift) {
  return T(Acc(c) * scale + shift);
}

// t where it is not positive, from what the backward kept: t itself, or the output y.
template <typename T, typename Acc>
LOWBIT_HOST_DEVICE inline Acc rprelu_negative_input(T saved, Acc zeta, Acc inv_beta, bool saved_is_output) {
  return saved_is_output ? (Acc(saved) - zeta) * inv_beta : Acc(saved);
}

// The per-channel constants of the fused batch norm's backward.
template <typename Acc>
struct BatchNormRPReLUChannel {
  Acc beta, inv_beta, zeta, gamma, bias, inv_weight;  // recovering c_hat
  Acc k, k0, k1;                                      // dL/dc from dL/dt and c_hat
};

// t from the kept output y and the bit 1[t > 0].
template <typename T, typename Acc>
LOWBIT_HOST_DEVICE inline Acc recovered_input(T y, bool positive, const BatchNormRPReLUChannel<Acc>& ch) {
  return positive ? Acc(y) - ch.zeta : (Acc(y) - ch.zeta) * ch.inv_beta;
}

// c_hat from t and the residual r (0 without one).
template <typename T, typename Acc>
LOWBIT_HOST_DEVICE inline Acc normalised_input(Acc t, T r, const BatchNormRPReLUChannel<Acc>& ch) {
  return ((t - Acc(r)) - ch.gamma - ch.bias) * ch.inv_weight;
}

template <typename T, typename Acc>
LOWBIT_HOST_DEVICE inline T batch_norm_input_grad(T grad_t, Acc c_hat, const BatchNormRPReLUChannel<Acc>& ch) {
  return T(ch.k * Acc(grad_t) + ch.k0 + ch.k1 * c_hat);
}

}  // namespace lowbit::ops
