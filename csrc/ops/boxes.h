#pragma once
// Axis-aligned boxes for the detection losses: format conversions, pairwise IoU and generalized
// IoU (Rezatofighi et al., CVPR 2019), and greedy non-maximum suppression.
//
//   cxcywh (cx, cy, w, h)  <->  xyxy (x1, y1, x2, y2) = (cx - w/2, cy - h/2, cx + w/2, cy + h/2)
//   IoU(a, b)  = |a ∩ b| / |a ∪ b|
//   GIoU(a, b) = IoU(a, b) - (|E| - |a ∪ b|) / |E|,  E the smallest box enclosing a and b
// GIoU lies in (-1, 1]: 1 for identical boxes, < 0 for disjoint boxes far apart.
// The IoU functions are compositions of ATen ops, so autograd differentiates them (as DETR's
// util/box_ops.py); areas use the continuous convention w * h (no "+1" pixel).

#include <ATen/core/Tensor.h>

namespace lowbit::ops {

// [..., 4] -> [..., 4]
at::Tensor box_cxcywh_to_xyxy(const at::Tensor& boxes);
at::Tensor box_xyxy_to_cxcywh(const at::Tensor& boxes);

// [N] areas of xyxy boxes [N, 4].
at::Tensor box_area(const at::Tensor& boxes);

// Pairwise IoU / GIoU of xyxy boxes a [N, 4] and b [M, 4] -> [N, M]. Boxes must be well formed
// (x2 >= x1, y2 >= y1); `what` names the caller in the error for malformed or wrongly shaped input.
// min_union > 0 floors the union (mmdetection's bbox_overlaps: 1e-6, so that two empty boxes
// overlap 0 instead of NaN). float16 / bfloat16 boxes are computed, and returned, in float.
at::Tensor box_iou(const at::Tensor& a, const at::Tensor& b, const char* what = "box_iou", double min_union = 0);
at::Tensor generalized_box_iou(const at::Tensor& a, const at::Tensor& b, const char* what = "generalized_box_iou");

// Greedy NMS (no gradient): visits xyxy `boxes` [K, 4] by descending `scores` [K] (ties: lower
// index first) and drops every later box whose IoU with a kept one exceeds `iou_threshold`.
// Returns the kept indices [K'] (int64, on the boxes' device) in descending score order, as
// the CUDA NMS of mmdet v2.0 (mmdet/ops/nms) that IDa-Det's training ran.
at::Tensor nms(const at::Tensor& boxes, const at::Tensor& scores, double iou_threshold);

}  // namespace lowbit::ops
