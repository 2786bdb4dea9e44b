#pragma once
// Faster R-CNN's second stage as mmdetection v2.0's StandardRoIHead with a SingleRoIExtractor and a
// Shared2FCBBoxHead (mmdet/models/roi_heads/{standard_roi_head.py, roi_extractors/
// single_level.py, bbox_heads/convfc_bbox_head.py, bbox_heads/bbox_head.py}), IDa-Det's config:
//   features   each RoI (x1, y1, x2, y2) pooled from one FPN level: level =
//              clamp(floor(log2(sqrt(w h) / 56 + 1e-6)), 0, levels - 1), RoIAlign 7x7 at 1 / stride,
//              aligned, adaptive sampling (ops/roi_align.h)
//   box head   flatten -> fc 1024 -> ReLU -> fc 1024 -> ReLU -> classes + 1 logits (the last one
//              background) and 4 deltas per class; xavier-uniform shared fcs, N(0, 0.01) logits,
//              N(0, 0.001) deltas, zero biases
//   targets    per image, the proposals after the ground truth (add_gt_as_proposals) assigned at
//              IoU 0.5 (no low-quality matches) and sampled (512, a quarter positive)
//   loss       cross-entropy over the sampled RoIs (background for negatives) divided by their
//              count; L1 between the positives' deltas of their class and the encoded ground truth
//              (stds 0.1, 0.1, 0.2, 0.2), divided by the number of sampled RoIs; times loss_weight
//              (IDa-Det: 5)
//   detections softmax scores, per-class boxes decoded and clamped to the image; per class the
//              boxes scoring above score_thr, NMS at nms_iou per class, the max_per_image best.

#include <lowbit/modules/detection/box_coder.h>
#include <lowbit/modules/detection/max_iou_assigner.h>
#include <lowbit/modules/detection/rpn_head.h>
#include <lowbit/modules/layers/qlinear.h>

#include <torch/nn/cloneable.h>

#include <optional>
#include <utility>
#include <vector>

namespace lowbit::detection {

struct RoIHeadOptions {
  explicit RoIHeadOptions(int64_t classes) : classes_(classes) {}
  TORCH_ARG(int64_t, classes);
  TORCH_ARG(int64_t, in_channels) = 256;
  TORCH_ARG(std::vector<int64_t>, strides) = {4, 8, 16, 32};
  TORCH_ARG(int64_t, roi_size) = 7;
  TORCH_ARG(double, finest_scale) = 56;
  TORCH_ARG(int64_t, fc_channels) = 1024;
  TORCH_ARG(MaxIoUAssignerOptions, assigner) =
      MaxIoUAssignerOptions().pos_iou_thr(0.5).neg_iou_thr(0.5).min_pos_iou(0.5).match_low_quality(false);
  TORCH_ARG(RandomSamplerOptions, sampler) = RandomSamplerOptions().num(512).pos_fraction(0.25);
  TORCH_ARG(double, loss_weight) = 1.0;
  TORCH_ARG(double, score_thr) = 0.05;
  TORCH_ARG(double, nms_iou) = 0.5;
  TORCH_ARG(int64_t, max_per_image) = 100;
};

struct Detections {
  torch::Tensor boxes, scores, labels;  // [D, 4] (x1, y1, x2, y2), [D], int64 [D] in 0..classes-1
};

class RoIHeadImpl : public torch::nn::Cloneable<RoIHeadImpl> {
 public:
  explicit RoIHeadImpl(RoIHeadOptions options);
  void reset() override;

  // rois [K, 5] (image index, x1, y1, x2, y2) -> pooled features [K, C, roi_size, roi_size] from
  // features (the first strides.size() FPN levels).
  torch::Tensor pool(const std::vector<torch::Tensor>& features, const torch::Tensor& rois) const;
  // pooled [K, C, s, s] -> (logits [K, classes + 1], deltas [K, 4 classes]).
  std::pair<torch::Tensor, torch::Tensor> forward(const torch::Tensor& pooled);

  // (classification, box regression), weighted; proposals[i]: [P_i, >= 4], gt_boxes[i]: [G_i, 4],
  // gt_labels[i]: int64 [G_i].
  std::pair<torch::Tensor, torch::Tensor> loss(const std::vector<torch::Tensor>& features,
                                               const std::vector<torch::Tensor>& proposals,
                                               const std::vector<torch::Tensor>& gt_boxes,
                                               const std::vector<torch::Tensor>& gt_labels,
                                               std::optional<at::Generator> generator = std::nullopt);
  // Per image, from its proposals, clamped to image_sizes[i].
  std::vector<Detections> detect(const std::vector<torch::Tensor>& features,
                                 const std::vector<torch::Tensor>& proposals,
                                 const std::vector<ImageSize>& image_sizes);

  RoIHeadOptions options;
  layers::QLinear fc1{nullptr}, fc2{nullptr}, cls{nullptr}, reg{nullptr};  // real (identity quantizers)
};
TORCH_MODULE(RoIHead);

// [sum P_i, 5]: the boxes of every image (first 4 columns) after their image index.
torch::Tensor rois_of(const std::vector<torch::Tensor>& boxes);

}  // namespace lowbit::detection
