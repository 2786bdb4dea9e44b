#include <lowbit/csrc/kernels/cuda/launch.h>
#include <lowbit/csrc/kernels/cuda/dtype_dispatch.cuh>

namespace lowbit::kernels::cuda {
namespace {

template <typename T>
__global__ void ste_backward_kernel(const T* grad, const T* x, T* out, int64_t n, ops::Ste ste) {
  using acc_t = typename Acc<T>::type;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(blockDim.x) * gridDim.x) {
    out[i] = T(acc_t(grad[i]) * ops::ste_derivative(acc_t(x[i]), ste));
  }
}

}  // namespace

void launch_ste_backward(DType dtype, const void* grad, const void* x, void* out, int64_t n, ops::Ste ste,
                         cudaStream_t stream) {
  if (n == 0) return;
  dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    ste_backward_kernel<T><<<grid_for(n), kBlock, 0, stream>>>(static_cast<const T*>(grad),
                                                                static_cast<const T*>(x),
                                                                static_cast<T*>(out), n, ste);
  });
  check_launch("ste_backward");
}

}  // namespace lowbit::kernels::cuda
