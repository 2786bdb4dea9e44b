#include <lowbit/csrc/kernels/cuda/dtype_dispatch.cuh>
#include <lowbit/csrc/kernels/cuda/launch.h>
#include <lowbit/csrc/ops/bit_planes.h>
#include <lowbit/csrc/ops/rprelu_math.h>

namespace lowbit::kernels::cuda {
namespace {

// One thread per byte of `positive`: its eight elements, then the byte.
template <typename T>
__global__ void rprelu_forward_kernel(const T* x, const T* residual, const T* scale, const T* shift, const T* gamma,
                                      const T* beta, const T* zeta, T* y, T* t_out, uint8_t* positive, ShiftLaunch s) {
  using acc_t = typename Acc<T>::type;
  const int64_t bytes = ops::plane_bytes(s.n);
  for (int64_t byte = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; byte < bytes;
       byte += int64_t(blockDim.x) * gridDim.x) {
    uint8_t bits = 0;
    for (int k = 0; k < 8; ++k) {
      const int64_t i = byte * 8 + k;
      if (i >= s.n) break;
      const int64_t c = (i / s.inner) % s.channels;
      const T xi = scale ? ops::batch_norm_value(x[i], acc_t(scale[c]), acc_t(shift[c])) : x[i];
      const T t = ops::rprelu_input(xi, residual ? residual[i] : T(0.0f), acc_t(gamma[c]), residual != nullptr);
      y[i] = ops::rprelu_value(t, acc_t(beta[c]), acc_t(zeta[c]));
      if (t_out) t_out[i] = t;
      if (acc_t(t) > acc_t(0)) bits |= uint8_t(1u << k);
    }
    positive[byte] = bits;
  }
}

template <typename T>
__global__ void rprelu_backward_kernel(const T* grad, const T* saved, const uint8_t* positive, const T* beta,
                                       const T* zeta, bool saved_is_output, T* grad_t,
                                       typename Acc<T>::type* beta_terms, ShiftLaunch s) {
  using acc_t = typename Acc<T>::type;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < s.n; i += int64_t(blockDim.x) * gridDim.x) {
    const int64_t c = (i / s.inner) % s.channels;
    const acc_t g = acc_t(grad[i]), b = acc_t(beta[c]);
    const bool pos = (positive[i / 8] >> (i % 8)) & 1;
    grad_t[i] = pos ? grad[i] : T(b * g);
    beta_terms[i] =
        pos ? acc_t(0) : g * ops::rprelu_negative_input(saved[i], acc_t(zeta[c]), acc_t(1) / b, saved_is_output);
  }
}

// The per-channel constants of the fused batch norm's backward (k0, k1 as given, in acc_t: null for 0).
template <typename T>
__device__ ops::BatchNormRPReLUChannel<typename Acc<T>::type> batch_norm_channel(const BatchNormRPReLUParams& p,
                                                                                 int64_t c) {
  using acc_t = typename Acc<T>::type;
  const auto value = [&](const void* values) { return acc_t(static_cast<const T*>(values)[c]); };
  const auto computed = [&](const void* values) { return values ? static_cast<const acc_t*>(values)[c] : acc_t(0); };
  ops::BatchNormRPReLUChannel<acc_t> ch;
  ch.beta = value(p.beta), ch.inv_beta = acc_t(1) / ch.beta, ch.zeta = value(p.zeta), ch.gamma = value(p.gamma);
  ch.bias = value(p.bias), ch.inv_weight = acc_t(1) / value(p.weight), ch.k = value(p.weight) * value(p.invstd);
  ch.k0 = computed(p.k0), ch.k1 = computed(p.k1);
  return ch;
}

// Pass 1: dL/dt and the per-element dL/dbeta and dL/dweight terms (acc_t), summed per channel by the caller.
template <typename T>
__global__ void batch_norm_rprelu_terms_kernel(const T* grad, const T* y, const T* residual, const uint8_t* positive,
                                               BatchNormRPReLUParams p, T* grad_t, typename Acc<T>::type* beta_terms,
                                               typename Acc<T>::type* weight_terms, ShiftLaunch s) {
  using acc_t = typename Acc<T>::type;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < s.n; i += int64_t(blockDim.x) * gridDim.x) {
    const auto ch = batch_norm_channel<T>(p, (i / s.inner) % s.channels);
    const acc_t g = acc_t(grad[i]);
    const bool pos = (positive[i / 8] >> (i % 8)) & 1;
    const T gt = pos ? grad[i] : T(ch.beta * g);
    grad_t[i] = gt;
    const acc_t t = ops::recovered_input(y[i], pos, ch);
    beta_terms[i] = pos ? acc_t(0) : g * t;
    weight_terms[i] = acc_t(gt) * ops::normalised_input(t, residual ? residual[i] : T(0.0f), ch);
  }
}

// Pass 2: dL/dx.
template <typename T>
__global__ void batch_norm_rprelu_input_grad_kernel(const T* grad_t, const T* y, const T* residual,
                                                    const uint8_t* positive, BatchNormRPReLUParams p, T* grad_x,
                                                    ShiftLaunch s) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < s.n; i += int64_t(blockDim.x) * gridDim.x) {
    const auto ch = batch_norm_channel<T>(p, (i / s.inner) % s.channels);
    const bool pos = (positive[i / 8] >> (i % 8)) & 1;
    const auto c_hat = ops::normalised_input(ops::recovered_input(y[i], pos, ch), residual ? residual[i] : T(0.0f), ch);
    grad_x[i] = ops::batch_norm_input_grad(grad_t[i], c_hat, ch);
  }
}

}  // namespace

void launch_rprelu_forward(DType dtype, const void* x, const void* residual, const void* scale, const void* shift,
                           const void* gamma, const void* beta, const void* zeta, void* y, void* t_out,
                           uint8_t* positive, const ShiftLaunch& shape, cudaStream_t stream) {
  if (shape.n == 0) return;
  dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    rprelu_forward_kernel<T><<<grid_for(ops::plane_bytes(shape.n)), kBlock, 0, stream>>>(
        static_cast<const T*>(x), static_cast<const T*>(residual), static_cast<const T*>(scale),
        static_cast<const T*>(shift), static_cast<const T*>(gamma),
        static_cast<const T*>(beta), static_cast<const T*>(zeta), static_cast<T*>(y), static_cast<T*>(t_out), positive,
        shape);
  });
  check_launch("rprelu_forward");
}

void launch_rprelu_backward(DType dtype, const void* grad, const void* saved, const uint8_t* positive,
                            const void* beta, const void* zeta, bool saved_is_output, void* grad_t, void* beta_terms,
                            const ShiftLaunch& shape, cudaStream_t stream) {
  if (shape.n == 0) return;
  dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    rprelu_backward_kernel<T><<<grid_for(shape.n), kBlock, 0, stream>>>(
        static_cast<const T*>(grad), static_cast<const T*>(saved), positive, static_cast<const T*>(beta),
        static_cast<const T*>(zeta), saved_is_output, static_cast<T*>(grad_t),
        static_cast<typename Acc<T>::type*>(beta_terms), shape);
  });
  check_launch("rprelu_backward");
}

void launch_batch_norm_rprelu_terms(DType dtype, const void* grad, const void* y, const void* residual,
                                    const uint8_t* positive, const BatchNormRPReLUParams& params, void* grad_t,
                                    void* beta_terms, void* weight_terms, const ShiftLaunch& shape,
                                    cudaStream_t stream) {
  if (shape.n == 0) return;
  dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    using acc_t = typename Acc<T>::type;
    batch_norm_rprelu_terms_kernel<T><<<grid_for(shape.n), kBlock, 0, stream>>>(
        static_cast<const T*>(grad), static_cast<const T*>(y), static_cast<const T*>(residual), positive, params,
        static_cast<T*>(grad_t), static_cast<acc_t*>(beta_terms), static_cast<acc_t*>(weight_terms), shape);
  });
  check_launch("batch_norm_rprelu_terms");
}

void launch_batch_norm_rprelu_input_grad(DType dtype, const void* grad_t, const void* y, const void* residual,
                                         const uint8_t* positive, const BatchNormRPReLUParams& params, void* grad_x,
                                         const ShiftLaunch& shape, cudaStream_t stream) {
  if (shape.n == 0) return;
  dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    batch_norm_rprelu_input_grad_kernel<T><<<grid_for(shape.n), kBlock, 0, stream>>>(
        static_cast<const T*>(grad_t), static_cast<const T*>(y), static_cast<const T*>(residual), positive, params,
        static_cast<T*>(grad_x), shape);
  });
  check_launch("batch_norm_rprelu_input_grad");
}

}  // namespace lowbit::kernels::cuda
