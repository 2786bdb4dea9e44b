#pragma once
// Faster R-CNN's box-to-ground-truth assignment and sampling, as mmdetection v2.0's MaxIoUAssigner
// (mmdet/core/bbox/assigners/max_iou_assigner.py) and RandomSampler (samplers/random_sampler.py):
// assign, over the IoU matrix (union floored at 1e-6, mmdet's bbox_overlaps):
//   every box: background (0) where its best IoU < neg_iou_thr, the best ground truth (i + 1) where
//   it is >= pos_iou_thr, else ignored (-1);
//   match_low_quality: then every ground truth i whose best IoU is >= min_pos_iou takes the boxes
//   that reach that IoU (all of them with gt_max_assign_all, else the first), later ones winning.
// RPN: 0.7 / 0.3 / 0.3 with low-quality matches; R-CNN: 0.5 / 0.5 / 0.5 without (IDa-Det's config).
// sample: at most int(num pos_fraction) positives and num - (positives taken) negatives, each
// drawn uniformly without replacement when there are more (torch.randperm), returned sorted (mmdet
// unique()s them). The R-CNN head first puts the ground-truth boxes before its proposals, each
// assigned to itself (add_gt_as_proposals, AssignResult::with_ground_truth_first).

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include <torch/arg.h>

#include <optional>

namespace lowbit::detection {

struct AssignResult {
  at::Tensor gt_index;      // int64 [M]: -1 ignored, 0 background, i + 1 ground-truth box i
  at::Tensor max_overlaps;  // [M]: each box's best IoU
  at::Tensor labels;        // int64 [M]: the assigned ground truth's label, -1 for the others

  // The result for [ground truth; boxes]: ground-truth box i assigned to itself, IoU 1.
  AssignResult with_ground_truth_first(const at::Tensor& gt_labels) const;
};

struct MaxIoUAssignerOptions {
  TORCH_ARG(double, pos_iou_thr) = 0.5;
  TORCH_ARG(double, neg_iou_thr) = 0.5;
  TORCH_ARG(double, min_pos_iou) = 0.0;
  TORCH_ARG(bool, match_low_quality) = true;
  TORCH_ARG(bool, gt_max_assign_all) = true;
};

// boxes [M, 4], gt_boxes [G, 4] (x1, y1, x2, y2), gt_labels int64 [G]. No gradient.
AssignResult assign_max_iou(const at::Tensor& boxes, const at::Tensor& gt_boxes, const at::Tensor& gt_labels,
                            const MaxIoUAssignerOptions& options);

struct RandomSamplerOptions {
  TORCH_ARG(int64_t, num) = 512;
  TORCH_ARG(double, pos_fraction) = 0.25;
};

struct SampledBoxes {
  at::Tensor positives, negatives;  // int64 indices into the assigned boxes, ascending
};

SampledBoxes sample_randomly(const AssignResult& assigned, const RandomSamplerOptions& options,
                             std::optional<at::Generator> generator = std::nullopt);

}  // namespace lowbit::detection
