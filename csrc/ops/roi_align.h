#pragma once
// RoIAlign (He et al., Mask R-CNN, ICCV 2017) with torchvision.ops.roi_align's semantics and
// arguments: features [N, C, H, W] and RoIs [K, 5] (batch index, x1, y1, x2, y2 in image
// coordinates) -> [K, C, pooled_h, pooled_w]; spatial_scale maps image to feature coordinates
// (1 / stride), sampling_ratio > 0 samples that many points per bin side (0: ceil(roi / pooled),
// adaptive), aligned shifts by half a pixel (mmcv's default and mmdetection's configs; torchvision
// defaults to false). Formulas: csrc/ops/roi_align_math.h; kernels: csrc/kernels/roi_align.h.
// Differentiable in the features (not in the RoIs, as torchvision and mmcv). float16 / bfloat16
// features are pooled in float and come back in their dtype, as torchvision's autocast runs it.
// torchvision's library cannot be loaded without a Python interpreter (it links libtorch_python),
// hence lowbit's own; tests/ops/roi_align_test.cpp holds torchvision's numbers.

#include <ATen/core/Tensor.h>

#include <torch/arg.h>

#include <cstdint>

namespace lowbit::ops {

struct RoIAlignOptions {
  RoIAlignOptions(int64_t pooled_h, int64_t pooled_w) : pooled_h_(pooled_h), pooled_w_(pooled_w) {}
  TORCH_ARG(int64_t, pooled_h);
  TORCH_ARG(int64_t, pooled_w);
  TORCH_ARG(double, spatial_scale) = 1.0;
  TORCH_ARG(int64_t, sampling_ratio) = 0;
  TORCH_ARG(bool, aligned) = true;
};

at::Tensor roi_align(const at::Tensor& features, const at::Tensor& rois, const RoIAlignOptions& options);

}  // namespace lowbit::ops
