#pragma once
// Element-wise formulas of the fused activation quantizers (csrc/kernels/activation_quantizers.h),
// shared by the CPU and CUDA kernels (no LibTorch), in the operation order of the ATen compositions
// they replaced.

#include <lowbit/csrc/ops/lsq_math.h>
#include <lowbit/csrc/ops/ste.h>
#include <lowbit/csrc/ops/weight_math.h>

namespace lowbit::ops {

// DoReFa activations (ops/dorefa.h): y = round(clamp(x, 0, 1) levels) / levels (half to even),
// dL/dx = g 1[0 <= x <= 1].
template <typename T>
LOWBIT_HOST_DEVICE inline T dorefa_activation_value(T x, T levels) {
  const T clamped = x < T(0) ? T(0) : (x > T(1) ? T(1) : x);  // NaN stays NaN, as torch.clamp
  return lsq_round(clamped * levels) / levels;
}
template <typename T>
LOWBIT_HOST_DEVICE inline T dorefa_activation_grad(T g, T x) {
  return x >= T(0) && x <= T(1) ? g : T(0);
}

// AdaBin activations (modules/quant/adabin.h): u = (x - beta) / alpha, s = sign(u) with ApproxSign;
// form code: y = alpha (s + beta), form paper: y = alpha s + beta. With b = (g alpha) ste'(u):
//   dL/dx = b / alpha,  dL/dalpha = g (s + beta | s) - b (x - beta) / alpha^2,  dL/dbeta = g (alpha | 1) - dL/dx
template <typename T>
LOWBIT_HOST_DEVICE inline T adabin_act_value(T x, T alpha, T beta, bool code) {
  const T s = sign_of((x - beta) / alpha);
  return code ? alpha * (s + beta) : alpha * s + beta;
}
template <typename T>
struct AdaBinActGrads {
  T input, alpha, beta;
};
template <typename T>
LOWBIT_HOST_DEVICE inline AdaBinActGrads<T> adabin_act_grads(T g, T x, T alpha, T beta, bool code) {
  const T d = x - beta;
  const T u = d / alpha;
  const T b = g * alpha * ste_derivative(u, Ste::ApproxSign);
  const T input = b / alpha;
  return {input, g * (code ? sign_of(u) + beta : sign_of(u)) - b * d / (alpha * alpha),
          g * (code ? alpha : T(1)) - input};
}

}  // namespace lowbit::ops
