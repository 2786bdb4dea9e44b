#include <lowbit/csrc/kernels/cuda/dtype_dispatch.cuh>
#include <lowbit/csrc/kernels/cuda/launch.h>
#include <lowbit/csrc/ops/bit_planes.h>
#include <lowbit/csrc/ops/rprelu_math.h>

namespace lowbit::kernels::cuda {
namespace {

// One thread per byte of `positive`: its eight elements, then the byte.
template <typename T>
__global__ void rprelu_forward_kernel(const T* x, const T* residual, const T* gamma, const T* beta, const T* zeta,
                                      T* y, T* t_out, uint8_t* positive, ShiftLaunch s) {
  using acc_t = typename Acc<T>::type;
  const int64_t bytes = ops::plane_bytes(s.n);
  for (int64_t byte = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; byte < bytes;
       byte += int64_t(blockDim.x) * gridDim.x) {
    uint8_t bits = 0;
    for (int k = 0; k < 8; ++k) {
      const int64_t i = byte * 8 + k;
      if (i >= s.n) break;
      const int64_t c = (i / s.inner) % s.channels;
      const T t = ops::rprelu_input(x[i], residual ? residual[i] : T(0.0f), acc_t(gamma[c]), residual != nullptr);
      y[i] = ops::rprelu_value(t, acc_t(beta[c]), acc_t(zeta[c]));
      if (t_out) t_out[i] = t;
      if (acc_t(t) > acc_t(0)) bits |= uint8_t(1u << k);
    }
    positive[byte] = bits;
  }
}

template <typename T>
__global__ void rprelu_backward_kernel(const T* grad, const T* saved, const uint8_t* positive, const T* beta,
                                       const T* zeta, bool saved_is_output, T* grad_t, float* beta_terms,
                                       ShiftLaunch s) {
  using acc_t = typename Acc<T>::type;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < s.n; i += int64_t(blockDim.x) * gridDim.x) {
    const int64_t c = (i / s.inner) % s.channels;
    const acc_t g = acc_t(grad[i]), b = acc_t(beta[c]);
    const bool pos = (positive[i / 8] >> (i % 8)) & 1;
    grad_t[i] = pos ? grad[i] : T(b * g);
    beta_terms[i] =
        pos ? 0.0f : float(g * ops::rprelu_negative_input(saved[i], acc_t(zeta[c]), acc_t(1) / b, saved_is_output));
  }
}

}  // namespace

void launch_rprelu_forward(DType dtype, const void* x, const void* residual, const void* gamma, const void* beta,
                           const void* zeta, void* y, void* t_out, uint8_t* positive, const ShiftLaunch& shape,
                           cudaStream_t stream) {
  if (shape.n == 0) return;
  dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    rprelu_forward_kernel<T><<<grid_for(ops::plane_bytes(shape.n)), kBlock, 0, stream>>>(
        static_cast<const T*>(x), static_cast<const T*>(residual), static_cast<const T*>(gamma),
        static_cast<const T*>(beta), static_cast<const T*>(zeta), static_cast<T*>(y), static_cast<T*>(t_out), positive,
        shape);
  });
  check_launch("rprelu_forward");
}

void launch_rprelu_backward(DType dtype, const void* grad, const void* saved, const uint8_t* positive,
                            const void* beta, const void* zeta, bool saved_is_output, void* grad_t, float* beta_terms,
                            const ShiftLaunch& shape, cudaStream_t stream) {
  if (shape.n == 0) return;
  dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    rprelu_backward_kernel<T><<<grid_for(shape.n), kBlock, 0, stream>>>(
        static_cast<const T*>(grad), static_cast<const T*>(saved), positive, static_cast<const T*>(beta),
        static_cast<const T*>(zeta), saved_is_output, static_cast<T*>(grad_t), beta_terms, shape);
  });
  check_launch("rprelu_backward");
}

}  // namespace lowbit::kernels::cuda
