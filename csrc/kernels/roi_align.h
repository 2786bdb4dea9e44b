#pragma once
// RoIAlign forward and backward on CPU and CUDA (formulas: csrc/ops/roi_align_math.h): the input
// [N, C, H, W], the RoIs [K, 5] (batch index, x1, y1, x2, y2), the output [K, C, pooled_h, pooled_w].
// The CPU backward is deterministic (channels split among the threads, RoIs in order); the CUDA
// backward adds with atomics, as torchvision's.

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace lowbit::kernels {

struct RoIAlignArgs {
  double spatial_scale;
  int64_t pooled_h, pooled_w, sampling_ratio;
  bool aligned;
};

at::Tensor roi_align_forward(const at::Tensor& input, const at::Tensor& rois, const RoIAlignArgs& args);
// dL/dinput [N, C, H, W] (input_sizes) from dL/doutput.
at::Tensor roi_align_backward(const at::Tensor& grad, const at::Tensor& rois, at::IntArrayRef input_sizes,
                              const RoIAlignArgs& args);

// The device kernels: input, rois and grad contiguous, of one dtype.
namespace cpu {
at::Tensor roi_align_forward(const at::Tensor& input, const at::Tensor& rois, const RoIAlignArgs& args);
at::Tensor roi_align_backward(const at::Tensor& grad, const at::Tensor& rois, at::IntArrayRef input_sizes,
                              const RoIAlignArgs& args);
}  // namespace cpu
namespace cuda {
at::Tensor roi_align_forward(const at::Tensor& input, const at::Tensor& rois, const RoIAlignArgs& args);
at::Tensor roi_align_backward(const at::Tensor& grad, const at::Tensor& rois, at::IntArrayRef input_sizes,
                              const RoIAlignArgs& args);
}  // namespace cuda

}  // namespace lowbit::kernels
