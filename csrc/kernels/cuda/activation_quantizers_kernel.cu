// Fused activation quantizers (csrc/kernels/activation_quantizers.h), the formulas of
// csrc/ops/activation_math.h: grid-stride element-wise passes over contiguous memory. The AdaBin
// backward also sums the scalar parameters' gradient terms: each block its grid-stride share, in
// double, written to partial[block][term] for the caller to add over blocks. alpha and beta are read
// from device memory inside the kernels.

#include <lowbit/csrc/kernels/cuda/block_sum.cuh>
#include <lowbit/csrc/kernels/cuda/dtype_dispatch.cuh>
#include <lowbit/csrc/kernels/cuda/launch.h>
#include <lowbit/csrc/ops/activation_math.h>

#include <stdexcept>
#include <string>

namespace lowbit::kernels::cuda {
namespace {

constexpr int64_t kMaxBlocks = 65535 * 8;

template <typename T>
__global__ void dorefa_act_forward_kernel(const T* x, typename Acc<T>::type levels, T* y, int64_t n) {
  using acc_t = typename Acc<T>::type;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(blockDim.x) * gridDim.x) {
    y[i] = T(ops::dorefa_activation_value(acc_t(x[i]), levels));
  }
}

template <typename T>
__global__ void dorefa_act_backward_kernel(const T* grad, const T* x, T* grad_x, int64_t n) {
  using acc_t = typename Acc<T>::type;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(blockDim.x) * gridDim.x) {
    grad_x[i] = T(ops::dorefa_activation_grad(acc_t(grad[i]), acc_t(x[i])));
  }
}

template <typename T>
__global__ void adabin_act_forward_kernel(const T* x, const T* alpha, const T* beta, bool code, T* y, int64_t n) {
  using acc_t = typename Acc<T>::type;
  const acc_t a = acc_t(*alpha), b = acc_t(*beta);
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(blockDim.x) * gridDim.x) {
    y[i] = T(ops::adabin_act_value(acc_t(x[i]), a, b, code));
  }
}

// blockDim.x == kBlock; partial[blockIdx.x] = (sum of the alpha terms, sum of the beta terms).
template <typename T>
__global__ void adabin_act_backward_kernel(const T* grad, const T* x, const T* alpha, const T* beta, bool code,
                                       T* grad_x, double* partial, int64_t n) {
  using acc_t = typename Acc<T>::type;
  const acc_t a = acc_t(*alpha), b = acc_t(*beta);
  double v[2] = {};
  for (int64_t i = blockIdx.x * int64_t(kBlock) + threadIdx.x; i < n; i += int64_t(kBlock) * gridDim.x) {
    const auto d = ops::adabin_act_grads(acc_t(grad[i]), acc_t(x[i]), a, b, code);
    grad_x[i] = T(d.input);
    v[0] += static_cast<double>(d.alpha);
    v[1] += static_cast<double>(d.beta);
  }
  block_sum(v);  // outside the loop: every thread takes part
  if (threadIdx.x == 0) {
    partial[2 * int64_t(blockIdx.x)] = v[0];
    partial[2 * int64_t(blockIdx.x) + 1] = v[1];
  }
}

}  // namespace

void launch_dorefa_activation_forward(DType dtype, const void* x, double levels, void* y, int64_t n,
                                      cudaStream_t stream) {
  if (n == 0) return;
  dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    using acc_t = typename Acc<T>::type;
    dorefa_act_forward_kernel<T><<<grid_for(n), kBlock, 0, stream>>>(static_cast<const T*>(x), acc_t(levels),
                                                                     static_cast<T*>(y), n);
  });
  check_launch("dorefa_activation_forward");
}

void launch_dorefa_activation_backward(DType dtype, const void* grad, const void* x, void* grad_x, int64_t n,
                                       cudaStream_t stream) {
  if (n == 0) return;
  dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    dorefa_act_backward_kernel<T><<<grid_for(n), kBlock, 0, stream>>>(
        static_cast<const T*>(grad), static_cast<const T*>(x), static_cast<T*>(grad_x), n);
  });
  check_launch("dorefa_activation_backward");
}

void launch_adabin_activation_forward(DType dtype, const void* x, const void* alpha, const void* beta, bool code,
                                      void* y, int64_t n, cudaStream_t stream) {
  if (n == 0) return;
  dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    adabin_act_forward_kernel<T><<<grid_for(n), kBlock, 0, stream>>>(
        static_cast<const T*>(x), static_cast<const T*>(alpha), static_cast<const T*>(beta), code, static_cast<T*>(y),
        n);
  });
  check_launch("adabin_activation_forward");
}

void launch_adabin_activation_backward(DType dtype, const void* grad, const void* x, const void* alpha,
                                       const void* beta, bool code, void* grad_x, double* partial, int64_t n,
                                       int64_t blocks, cudaStream_t stream) {
  if (n == 0) return;
  if (blocks < 1 || blocks > kMaxBlocks) {
    throw std::invalid_argument("lowbit CUDA adabin_activation_backward: " + std::to_string(blocks) +
                                " blocks, expected row_chunks(n)");
  }
  dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    adabin_act_backward_kernel<T><<<static_cast<unsigned>(blocks), kBlock, 0, stream>>>(
        static_cast<const T*>(grad), static_cast<const T*>(x), static_cast<const T*>(alpha),
        static_cast<const T*>(beta), code, static_cast<T*>(grad_x), partial, n);
  });
  check_launch("adabin_activation_backward");
}

}  // namespace lowbit::kernels::cuda
