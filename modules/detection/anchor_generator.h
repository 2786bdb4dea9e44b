#pragma once
// Anchors of an FPN detector as mmdetection v2.0's AnchorGenerator (mmdet/core/anchor/
// anchor_generator.py) makes them for Faster R-CNN (IDa-Det's config: strides 4, 8, 16, 32, 64,
// ratios 0.5, 1, 2, scales 8; base size = stride, centre offset 0, scale-major):
//   base anchors of a level, ratio r, scale s:  h_r = sqrt(r), w_r = 1 / h_r,
//     w = stride w_r s, h = stride h_r s,  (c - w/2, c - h/2, c + w/2, c + h/2), c = offset stride
//   ordered ratio-major (for each ratio, each scale), unrounded;
//   all anchors: the base anchors shifted by (x stride, y stride, x stride, y stride) for every
//   feature location, rows then columns, the A anchors of a location together: [H W A, 4].
// Valid flags: the anchors of the locations inside ceil(image / stride) of the unpadded image
// (mmdet's valid_flags; with allowed_border = -1, as its Faster R-CNN configs, these are the
// anchors the RPN trains on).

#include <ATen/core/Tensor.h>

#include <torch/arg.h>

#include <utility>
#include <vector>

namespace lowbit::detection {

struct AnchorGeneratorOptions {
  TORCH_ARG(std::vector<int64_t>, strides) = {4, 8, 16, 32, 64};
  TORCH_ARG(std::vector<double>, ratios) = {0.5, 1.0, 2.0};
  TORCH_ARG(std::vector<double>, scales) = {8.0};
  TORCH_ARG(double, center_offset) = 0.0;
};

class AnchorGenerator {
 public:
  explicit AnchorGenerator(AnchorGeneratorOptions options = {});

  int64_t levels() const { return static_cast<int64_t>(options_.strides().size()); }
  int64_t anchors_per_location() const;
  // [A, 4] of level `level` (float32).
  at::Tensor base_anchors(int64_t level) const;
  // [H W A, 4] for a feature map of (height, width) at level `level`, in `options`' dtype and device.
  at::Tensor grid_anchors(int64_t level, std::pair<int64_t, int64_t> feature_size, const at::TensorOptions& options) const;
  // bool [H W A]: anchors at locations inside the image of size (height, width) (unpadded).
  at::Tensor valid_flags(int64_t level, std::pair<int64_t, int64_t> feature_size,
                         std::pair<int64_t, int64_t> image_size, const at::Device& device) const;

  const AnchorGeneratorOptions& options() const { return options_; }

 private:
  AnchorGeneratorOptions options_;
};

}  // namespace lowbit::detection
