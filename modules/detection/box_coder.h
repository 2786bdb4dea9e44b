#pragma once
// Faster R-CNN's box parameterisation (Girshick et al., R-CNN / Fast R-CNN) as mmdetection v2.0's
// DeltaXYWHBBoxCoder (mmdet/core/bbox/coder/delta_xywh_bbox_coder.py), which IDa-Det's code runs:
//   p = (px, py, pw, ph), g likewise: centres (x1 + x2) / 2, sizes x2 - x1 (no "+1")
//   encode: d = ((gx - px) / pw, (gy - py) / ph, log(gw / pw), log(gh / ph)), then (d - means) / stds
//   decode: d = deltas stds + means; dw, dh clamped to [-r, r], r = |log(wh_ratio_clip)| (16/1000);
//           centre p_c + p_size d_c, size p_size exp(d_size); corners centre -/+ size / 2, each
//           clamped to [0, width] / [0, height] of the image when its size is given.
// RPN: means 0, stds 1; the R-CNN box head: means 0, stds (0.1, 0.1, 0.2, 0.2). torchvision's
// BoxCoder with weights 1 / stds computes the same numbers (it clamps dw, dh from above only).
// Compositions of ATen ops: autograd differentiates decode in the deltas.

#include <ATen/core/Tensor.h>

#include <torch/arg.h>

#include <array>
#include <optional>
#include <utility>

namespace lowbit::detection {

using BoxCoordinates = std::array<double, 4>;  // one value per delta: x, y, w, h

struct DeltaBoxCoderOptions {
  TORCH_ARG(BoxCoordinates, means) = {0, 0, 0, 0};
  TORCH_ARG(BoxCoordinates, stds) = {1, 1, 1, 1};
  TORCH_ARG(double, wh_ratio_clip) = 16.0 / 1000;
};

class DeltaBoxCoder {
 public:
  explicit DeltaBoxCoder(DeltaBoxCoderOptions options = {});

  // proposals, gt: [..., 4] (x1, y1, x2, y2) of one shape -> deltas [..., 4].
  at::Tensor encode(const at::Tensor& proposals, const at::Tensor& gt) const;
  // rois [K, 4], deltas [K, 4 n] (n boxes per RoI, one per class) -> boxes [K, 4 n]; image_size:
  // (height, width) to clamp to.
  at::Tensor decode(const at::Tensor& rois, const at::Tensor& deltas,
                    std::optional<std::pair<double, double>> image_size = std::nullopt) const;

  const DeltaBoxCoderOptions& options() const { return options_; }

 private:
  DeltaBoxCoderOptions options_;
};

}  // namespace lowbit::detection
