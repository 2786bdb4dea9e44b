#pragma once
// From an annotated image to a detector's batch, as DETR prepares and collates its samples:
//   detection_sample:  the annotations as boxes to transform (datasets/coco.py ConvertCocoPolysToMask)
//   detection_target:  the transformed boxes as training targets, with the original annotations
//                      for evaluation beside them
//   collate_detection: images of different sizes padded into one tensor with a padding mask
//                      (util/misc.py nested_tensor_from_tensor_list)

#include <lowbit/csrc/data/detection_set.h>
#include <lowbit/csrc/data/detection_transforms.h>

#include <ATen/core/Tensor.h>

#include <vector>

namespace lowbit::data {

struct DetectionTarget {
  // Training: the annotations not ignored (COCO: non-crowd, VOC: non-difficult) that survived the
  // transform, boxes (cx, cy, w, h) divided by the transformed image's (W, H, W, H)
  // (DETR's Normalize: box_xyxy_to_cxcywh(boxes) / [w, h, w, h]).
  at::Tensor boxes;   // float [G, 4]
  at::Tensor labels;  // int64 [G], contiguous
  // Evaluation: the image's id and size, and ALL its annotations untouched by the transform.
  at::Tensor image_id;    // int64 []
  at::Tensor orig_size;   // int64 [2] (height, width) of the decoded image
  at::Tensor gt_boxes;    // float [A, 4] (x, y, w, h), original pixels
  at::Tensor gt_labels;   // int64 [A]
  at::Tensor gt_area;     // float [A]
  at::Tensor gt_iscrowd;  // bool [A]: COCO iscrowd, VOC difficult
};

struct DetectionBatch {
  at::Tensor images;       // float [B, 3, H, W], zero-padded bottom and right to the largest H and W
  at::Tensor mask;         // bool [B, H, W], true on padding
  at::Tensor image_sizes;  // float [B, 2] (height, width) of each image before padding
  std::vector<DetectionTarget> targets;
};

// The decoded `pixels` ([3, H, W]) of `image` with all its annotations: (x, y, w, h) -> (x1, y1,
// x2, y2) = (x, y, x + w, y + h), clipped to [0, W] x [0, H]; boxes left with x2 <= x1 or y2 <= y1
// are dropped, as ConvertCocoPolysToMask does.
DetectionSample detection_sample(const DetectionImage& image, at::Tensor pixels);

// The target of `image`, whose decoded pixels were orig_height x orig_width, from `transformed`,
// the output of a transform (boxes (x1, y1, x2, y2) in its pixels).
DetectionTarget detection_target(const DetectionImage& image, int64_t orig_height, int64_t orig_width,
                                 const DetectionSample& transformed);

// images[i]: float [3, h_i, w_i]. out.images[i, :, :h_i, :w_i] = images[i], zero elsewhere;
// out.mask[i, :h_i, :w_i] = false, true elsewhere. The padded H and W are the largest h_i and w_i
// rounded up to a multiple of size_divisor (mmdet's Pad(size_divisor = 32); DETR: 1).
DetectionBatch collate_detection(const std::vector<at::Tensor>& images, std::vector<DetectionTarget> targets,
                                 int64_t size_divisor = 1);

}  // namespace lowbit::data
