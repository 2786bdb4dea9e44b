#include <lowbit/csrc/kernels/cuda/dtype_dispatch.cuh>
#include <lowbit/csrc/kernels/cuda/launch.h>
#include <lowbit/csrc/ops/roi_align_math.h>

namespace lowbit::kernels::cuda {
namespace {

template <typename T>
__device__ ops::RoIGeometry<typename Acc<T>::type> geometry_of(const T* roi, const RoIAlignLaunch& s) {
  using acc_t = typename Acc<T>::type;
  return ops::roi_geometry<acc_t>(acc_t(roi[1]), acc_t(roi[2]), acc_t(roi[3]), acc_t(roi[4]),
                                  acc_t(s.spatial_scale), s.pooled_h, s.pooled_w, s.sampling_ratio, s.aligned);
}

// Output element i of [rois, channels, pooled_h, pooled_w]: its RoI, channel and bin.
struct OutputIndex {
  int64_t k, c, ph, pw;
};

__device__ OutputIndex output_index(int64_t i, const RoIAlignLaunch& s) {
  return {i / (s.pooled_w * s.pooled_h * s.channels), (i / (s.pooled_w * s.pooled_h)) % s.channels,
          (i / s.pooled_w) % s.pooled_h, i % s.pooled_w};
}

// One thread per output element.
template <typename T>
__global__ void roi_align_forward_kernel(const T* input, const T* rois, T* out, RoIAlignLaunch s) {
  using acc_t = typename Acc<T>::type;
  const int64_t n = s.rois * s.channels * s.pooled_h * s.pooled_w;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(blockDim.x) * gridDim.x) {
    const auto [k, c, ph, pw] = output_index(i, s);
    const T* roi = rois + k * 5;
    const auto g = geometry_of(roi, s);
    const T* x = input + (int64_t(acc_t(roi[0])) * s.channels + c) * s.height * s.width;
    acc_t sum = 0;
    ops::for_each_bin_sample(g, ph, pw, s.height, s.width, [&](const ops::BilinearSample<acc_t>& b) {
      sum += b.weight[0] * acc_t(x[b.index[0]]) + b.weight[1] * acc_t(x[b.index[1]]) +
             b.weight[2] * acc_t(x[b.index[2]]) + b.weight[3] * acc_t(x[b.index[3]]);
    });
    out[i] = T(sum / g.count);
  }
}

// One thread per output element, adding into grad_input (float, or double for double) atomically.
template <typename T>
__global__ void roi_align_backward_kernel(const T* grad, const T* rois, typename Acc<T>::type* grad_input,
                                          RoIAlignLaunch s) {
  using acc_t = typename Acc<T>::type;
  const int64_t n = s.rois * s.channels * s.pooled_h * s.pooled_w;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(blockDim.x) * gridDim.x) {
    const auto [k, c, ph, pw] = output_index(i, s);
    const T* roi = rois + k * 5;
    const auto g = geometry_of(roi, s);
    acc_t* x = grad_input + (int64_t(acc_t(roi[0])) * s.channels + c) * s.height * s.width;
    const acc_t share = acc_t(grad[i]) / g.count;
    ops::for_each_bin_sample(g, ph, pw, s.height, s.width, [&](const ops::BilinearSample<acc_t>& b) {
      for (int j = 0; j < 4; ++j) {
        if (b.weight[j] != acc_t(0)) atomicAdd(x + b.index[j], share * b.weight[j]);
      }
    });
  }
}

}  // namespace

void launch_roi_align_forward(DType dtype, const void* input, const void* rois, void* out, const RoIAlignLaunch& shape,
                              cudaStream_t stream) {
  const int64_t n = shape.rois * shape.channels * shape.pooled_h * shape.pooled_w;
  if (n == 0) return;
  dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    roi_align_forward_kernel<T><<<grid_for(n), kBlock, 0, stream>>>(
        static_cast<const T*>(input), static_cast<const T*>(rois), static_cast<T*>(out), shape);
  });
  check_launch("roi_align_forward");
}

void launch_roi_align_backward(DType dtype, const void* grad, const void* rois, void* grad_input,
                               const RoIAlignLaunch& shape, cudaStream_t stream) {
  const int64_t n = shape.rois * shape.channels * shape.pooled_h * shape.pooled_w;
  if (n == 0) return;
  dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    roi_align_backward_kernel<T><<<grid_for(n), kBlock, 0, stream>>>(
        static_cast<const T*>(grad), static_cast<const T*>(rois), static_cast<typename Acc<T>::type*>(grad_input),
        shape);
  });
  check_launch("roi_align_backward");
}

}  // namespace lowbit::kernels::cuda
