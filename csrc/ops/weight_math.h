#pragma once
// Element-wise formulas of the fused weight quantizers (csrc/kernels/weight_quantizers.h), shared
// by the CPU and CUDA kernels (no LibTorch). A weight is viewed as [rows, cols]: a row is one output
// channel (dim 0) or, for per-tensor state, the whole tensor. Each formula takes its row's
// statistics as arguments and keeps the operation order of the ATen composition it replaced, so
// that float results agree bit for bit wherever the row statistics do.

#include <lowbit/csrc/ops/lsq_math.h>
#include <lowbit/csrc/ops/ste.h>

#include <cmath>

namespace lowbit::ops {

template <typename T>
LOWBIT_HOST_DEVICE inline T sign_of(T x) {
  return T(int(x > T(0)) - int(x < T(0)));  // sign(0) = 0, as torch::sign
}

// |x|; float and double by fabs (one bit cleared: it vectorises as a mask), which differs from the
// comparison only in the sign of a zero.
template <typename T>
LOWBIT_HOST_DEVICE inline T magnitude_of(T x) {
  return x < T(0) ? -x : x;
}
LOWBIT_HOST_DEVICE inline float magnitude_of(float x) { return fabsf(x); }
LOWBIT_HOST_DEVICE inline double magnitude_of(double x) { return fabs(x); }

// XNOR-Net (ops/scaled_sign.h): y = alpha sign(w). The backward by ScaleGrad:
//   detached (scale_by_alpha = add_mean = false): g 1[|w| <= 1]
//   magnitude_aware (scale_by_alpha):              g 1[|w| <= 1] alpha
//   xnor (scale_by_alpha, add_mean):               g 1[|w| <= 1] alpha + g / cols
// (g / cols as g times 1/cols: within one rounding of the division, and a division per element
// would bound the kernel)
template <typename T>
LOWBIT_HOST_DEVICE inline T scaled_sign_value(T w, T alpha) {
  return alpha * sign_of(w);
}
template <typename T>
LOWBIT_HOST_DEVICE inline T scaled_sign_grad(T g, T w, T alpha, T inv_cols, bool scale_by_alpha, bool add_mean) {
  const T clipped = g * (magnitude_of(w) <= T(1) ? T(1) : T(0));
  const T scaled = scale_by_alpha ? clipped * alpha : clipped;
  return add_mean ? scaled + g * inv_cols : scaled;
}

// TWN ternarization (ops/ternarize.h): y = alpha sign(w) 1[|w| > Delta].
template <typename T>
LOWBIT_HOST_DEVICE inline T ternary_value(T w, T threshold, T alpha) {
  return alpha * sign_of(w) * (magnitude_of(w) > threshold ? T(1) : T(0));
}

// Bilinear binarization (ops/bilinear_sign.h): y = (kappa sign(w)) alpha; with b = kappa sign(w)
// and r = w - b alpha, dL/dw = gamma r + alpha g, and the row sums sum g w and sum r b give
// dL/dalpha = sum g w - gamma sum r b.
template <typename T>
LOWBIT_HOST_DEVICE inline T bilinear_value(T w, T kappa, T alpha) {
  return sign_of(w) * kappa * alpha;
}
template <typename T>
struct BilinearTerms {
  T grad_w, g_w, r_b;  // dL/dw, g w, r b
};
template <typename T>
LOWBIT_HOST_DEVICE inline BilinearTerms<T> bilinear_terms(T g, T w, T kappa, T alpha, T gamma) {
  const T b = sign_of(w) * kappa;
  const T r = w - b * alpha;
  return {gamma * r + alpha * g, g * w, r * b};
}

// RBONN's recurrent weight (modules/quant/rbonn.h), the input of its bilinear binarization:
// W~ = W - c P with c = u m per output channel and P the previous gradient, in one rounding (a fused
// multiply-add: the same numbers on every CPU clone and on CUDA, where a product and a difference
// would be contracted or not by the compiler).
LOWBIT_HOST_DEVICE inline float recurrent_value(float w, float c, float p) { return fmaf(-c, p, w); }
LOWBIT_HOST_DEVICE inline double recurrent_value(double w, double c, double p) { return fma(-c, p, w); }

// How a backward records a gradient divided by the loss scale S (RBONN's previous gradient): not,
// times 1 / S (a power of two: the same numbers as the division), or divided by S
// (kernels/arguments.h record_mode).
enum class Record { None, TimesInverse, Divided };
// The number the record multiplies by (1 / S) or divides by (S).
inline double record_operand(Record mode, double scale) { return mode == Record::TimesInverse ? 1 / scale : scale; }

// DoReFa k-bit weights (ops/dorefa.h), from t = tanh(w) and the tensor's M = max |t|:
//   y = 2 round((t / (2M) + 1/2) levels) / levels - 1,    levels = 2^k - 1 (round: half to even)
// computed with the reciprocals 1 / (2M) and 2 / levels (no division per element).
// Backward (round straight through, the max's gradient shared evenly by the `ties` entries with
// |t| = M, as torch's max): dt = g / M + 1[|t| = M] sign(t) dM / ties,  dM = -sum_j g_j t_j / M^2
// (a tensor sum the caller passes as `grad_max_per_tie`), dL/dw = dt (1 - t^2).
template <typename T>
LOWBIT_HOST_DEVICE inline T dorefa_weight_value(T t, T inv_two_max, T levels, T two_over_levels) {
  const T z = t * inv_two_max + T(0.5);
  return lsq_round(z * levels) * two_over_levels - T(1);
}
template <typename T>
LOWBIT_HOST_DEVICE inline T dorefa_weight_grad(T g, T t, T max, T inv_max, T grad_max_per_tie) {
  T dt = g * inv_max;
  if (magnitude_of(t) == max) dt += sign_of(t) * grad_max_per_tie;
  return dt * (T(1) - t * t);
}

// AdaBin weights (modules/quant/adabin.h), per output channel: beta = mean w, d = w - beta,
// v = mean d^2, alpha = sqrt(max(v, 1e-24)), u = d / alpha, y = sign(u) alpha + beta; the sign's
// backward is the EDE, ds/du = k t (1 - tanh^2(t u)) (ops/ede_sign.h). With e = (g alpha) ds/du:
//   dL/dalpha = sum g sign(u) - sum e d / alpha^2,  dL/dv = dL/dalpha / (2 alpha) (0 where clamped),
//   dL/dd_i   = e_i / alpha + dL/dv 2 d_i / cols,  dL/dbeta = sum g - sum_i dL/dd_i,
//   dL/dw_i   = dL/dd_i + dL/dbeta / cols.
template <typename T>
LOWBIT_HOST_DEVICE inline T adabin_value(T w, T beta, T alpha) {
  return sign_of((w - beta) / alpha) * alpha + beta;
}
// e from tanh(t u) (the caller's tanh, vectorised on the CPU).
template <typename T>
LOWBIT_HOST_DEVICE inline T adabin_e(T g, T alpha, T kt, T tanh_tu) {
  return g * alpha * kt * (T(1) - tanh_tu * tanh_tu);
}

}  // namespace lowbit::ops
