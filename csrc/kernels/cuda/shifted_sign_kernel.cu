#include <lowbit/csrc/kernels/cuda/launch.h>
#include <lowbit/csrc/kernels/cuda/dtype_dispatch.cuh>

namespace lowbit::kernels::cuda {
namespace {

// x + b_c rounded to T, as the CPU kernel and at::sign(x + b) see it.
template <typename T>
__device__ typename Acc<T>::type shifted(const T* x, const T* shift, int64_t i, const ShiftLaunch& s) {
  using acc_t = typename Acc<T>::type;
  return acc_t(T(acc_t(x[i]) + acc_t(shift[(i / s.inner) % s.channels])));
}

template <typename T>
__global__ void shifted_sign_forward_kernel(const T* x, const T* shift, T* out, ShiftLaunch s) {
  using acc_t = typename Acc<T>::type;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < s.n; i += int64_t(blockDim.x) * gridDim.x) {
    const acc_t v = shifted(x, shift, i, s);
    out[i] = T(acc_t((v > acc_t(0)) - (v < acc_t(0))));
  }
}

template <typename T>
__global__ void shifted_sign_backward_kernel(const T* grad, const T* x, const T* shift, T* grad_x, ops::Ste ste,
                                             ShiftLaunch s) {
  using acc_t = typename Acc<T>::type;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < s.n; i += int64_t(blockDim.x) * gridDim.x) {
    grad_x[i] = T(acc_t(grad[i]) * ops::ste_derivative(shifted(x, shift, i, s), ste));
  }
}

}  // namespace

void launch_shifted_sign_forward(DType dtype, const void* x, const void* shift, void* out, const ShiftLaunch& shape,
                                 cudaStream_t stream) {
  if (shape.n == 0) return;
  dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    shifted_sign_forward_kernel<T><<<grid_for(shape.n), kBlock, 0, stream>>>(
        static_cast<const T*>(x), static_cast<const T*>(shift), static_cast<T*>(out), shape);
  });
  check_launch("shifted_sign_forward");
}

void launch_shifted_sign_backward(DType dtype, const void* grad, const void* x, const void* shift, void* grad_x,
                                  ops::Ste ste, const ShiftLaunch& shape, cudaStream_t stream) {
  if (shape.n == 0) return;
  dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    shifted_sign_backward_kernel<T><<<grid_for(shape.n), kBlock, 0, stream>>>(
        static_cast<const T*>(grad), static_cast<const T*>(x), static_cast<const T*>(shift), static_cast<T*>(grad_x),
        ste, shape);
  });
  check_launch("shifted_sign_backward");
}

}  // namespace lowbit::kernels::cuda
