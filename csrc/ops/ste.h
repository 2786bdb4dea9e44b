#pragma once
// Straight-through estimators for sign(x), shared by the autograd ops and the CPU/CUDA kernels
// (this header needs no LibTorch). sign(0) = 0, as torch::sign and the official PyTorch code of
// Bi-Real Net and ReActNet; XNOR-Net's Caffe/Lua code maps 0 to +1. An exact 0 has measure zero
// for real-valued latent weights and pre-activations, so the choice only shows in tests.
//   identity : dL/dx = g                                     (BinaryConnect; BNN's Binarize)
//   clipped  : dL/dx = g * 1[|x| <= 1]                       (BNN with Hardtanh, Hubara et al. 2016)
//   approx   : dL/dx = g * (2 - 2|x|) * 1[|x| <= 1]          (ApproxSign, Bi-Real Net, Liu et al. 2018)
// ApproxSign is the derivative of F(x) = -1 (x<-1), x^2+2x ([-1,0)), -x^2+2x ([0,1)), 1 (x>=1).

#if defined(__CUDACC__)
#define LOWBIT_HOST_DEVICE __host__ __device__
#else
#define LOWBIT_HOST_DEVICE
#endif

namespace lowbit::ops {

enum class Ste : int { Identity = 0, Clipped = 1, ApproxSign = 2 };

// d sign_ste(x) / dx for the estimator `ste`.
template <typename T>
LOWBIT_HOST_DEVICE inline T ste_derivative(T x, Ste ste) {
  const T magnitude = x < T(0) ? -x : x;
  switch (ste) {
    case Ste::Identity:
      return T(1);
    case Ste::Clipped:
      return magnitude <= T(1) ? T(1) : T(0);
    case Ste::ApproxSign:
      return magnitude <= T(1) ? T(2) - T(2) * magnitude : T(0);
  }
  return T(0);
}

}  // namespace lowbit::ops
