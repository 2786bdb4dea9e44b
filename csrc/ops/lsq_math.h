#pragma once
// Element-wise LSQ / LSQ+ arithmetic shared by the CPU and CUDA kernels (no LibTorch needed).
//   u = (v - beta) / s,  v_hat = L(clamp(u, -Q_N, Q_P)) * s + beta
//   d v_hat / d v    = 1[-Q_N <= u <= Q_P]
//   d v_hat / d s    = L(u) - u inside, -Q_N below, Q_P above    (Esser et al. 2020, eq. 3)
//   d v_hat / d beta = 0 inside, 1 outside                         (Bhalgat et al. 2020)
// The level function L is round() (round half to even, as torch::round), or sign() for the
// signed 1-bit code {-1, +1} (Q_N = Q_P = 1; sign(0) = 0 as torch::sign), whose round() would
// have no positive level: Bi-ViT's ActBi / LinearBi (sign_pass of Bi_Quant.py).

#include <lowbit/csrc/ops/ste.h>

#include <cmath>
#include <limits>

namespace lowbit::ops {

// Round half to even. On the host without a library call, so that the CPU loops vectorise on
// baseline x86-64 (no SSE4.1 roundps): adding and subtracting 2^p (p = mantissa bits) leaves
// |u| < 2^p rounded by the FPU's default mode, ties to even; larger |u| are integers already.
template <typename T>
LOWBIT_HOST_DEVICE inline T lsq_round(T u) {
#if defined(__CUDA_ARCH__)
  return rint(u);
#else
  const T big = T(1) / std::numeric_limits<T>::epsilon();  // 2^23 (float), 2^52 (double)
  const T magnitude = std::abs(u);
  return magnitude < big ? std::copysign((magnitude + big) - big, u) : u;
#endif
}

template <typename T>
LOWBIT_HOST_DEVICE inline T lsq_level(T u, bool sign) {
  return sign ? T(int(u > T(0)) - int(u < T(0))) : lsq_round(u);
}

template <typename T>
LOWBIT_HOST_DEVICE inline T lsq_forward_value(T v, T step, T offset, T qn, T qp, bool sign) {
  T u = (v - offset) / step;
  u = u < -qn ? -qn : (u > qp ? qp : u);
  return lsq_level(u, sign) * step + offset;
}

template <typename T>
struct LsqGrads {
  T input, step, offset;
};

template <typename T>
LOWBIT_HOST_DEVICE inline LsqGrads<T> lsq_backward_value(T grad, T v, T step, T offset, T qn, T qp, bool sign) {
  const T u = (v - offset) / step;
  if (u < -qn) return {T(0), grad * -qn, grad};
  if (u > qp) return {T(0), grad * qp, grad};
  return {grad, grad * (lsq_level(u, sign) - u), T(0)};
}

}  // namespace lowbit::ops
