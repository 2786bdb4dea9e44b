#include <lowbit/csrc/kernels/cuda/dtype_dispatch.cuh>
#include <lowbit/csrc/kernels/cuda/launch.h>
#include <lowbit/csrc/ops/lsq_math.h>

namespace lowbit::kernels::cuda {
namespace {

template <typename T>
__global__ void lsq_forward_kernel(const T* x, const T* step, const T* offset, T* out, LsqLaunch shape) {
  using acc_t = typename Acc<T>::type;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < shape.n;
       i += int64_t(blockDim.x) * gridDim.x) {
    const int64_t c = (i / shape.inner) % shape.channels;
    const acc_t b = offset ? acc_t(offset[c]) : acc_t(0);
    out[i] = T(ops::lsq_forward_value<acc_t>(acc_t(x[i]), acc_t(step[c]), b, acc_t(shape.qn), acc_t(shape.qp),
                                             shape.sign));
  }
}

template <typename T>
__global__ void lsq_backward_kernel(const T* grad, const T* x, const T* step, const T* offset, T* grad_x,
                                    typename Acc<T>::type* step_terms, typename Acc<T>::type* offset_terms,
                                    LsqLaunch shape) {
  using acc_t = typename Acc<T>::type;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < shape.n;
       i += int64_t(blockDim.x) * gridDim.x) {
    const int64_t c = (i / shape.inner) % shape.channels;
    const acc_t b = offset ? acc_t(offset[c]) : acc_t(0);
    const auto d = ops::lsq_backward_value<acc_t>(acc_t(grad[i]), acc_t(x[i]), acc_t(step[c]), b,
                                                  acc_t(shape.qn), acc_t(shape.qp), shape.sign);
    grad_x[i] = T(d.input);
    step_terms[i] = d.step;
    if (offset_terms) offset_terms[i] = d.offset;
  }
}

}  // namespace

void launch_lsq_forward(DType dtype, const void* x, const void* step, const void* offset, void* out,
                        const LsqLaunch& shape, cudaStream_t stream) {
  if (shape.n == 0) return;
  dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    lsq_forward_kernel<T><<<grid_for(shape.n), kBlock, 0, stream>>>(
        static_cast<const T*>(x), static_cast<const T*>(step), static_cast<const T*>(offset),
        static_cast<T*>(out), shape);
  });
  check_launch("lsq_forward");
}

void launch_lsq_backward(DType dtype, const void* grad, const void* x, const void* step, const void* offset,
                         void* grad_x, void* step_terms, void* offset_terms, const LsqLaunch& shape,
                         cudaStream_t stream) {
  if (shape.n == 0) return;
  dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    using acc_t = typename Acc<T>::type;
    lsq_backward_kernel<T><<<grid_for(shape.n), kBlock, 0, stream>>>(
        static_cast<const T*>(grad), static_cast<const T*>(x), static_cast<const T*>(step),
        static_cast<const T*>(offset), static_cast<T*>(grad_x), static_cast<acc_t*>(step_terms),
        static_cast<acc_t*>(offset_terms), shape);
  });
  check_launch("lsq_backward");
}

}  // namespace lowbit::kernels::cuda
