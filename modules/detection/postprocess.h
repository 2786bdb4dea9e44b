#pragma once
// DETR's PostProcess (facebookresearch/detr models/detr.py): per query,
//   p = softmax(logits);  score, label = max over the real classes of p  (no-object dropped)
//   box = cxcywh -> xyxy, scaled by (w, h, w, h) of the image's original size
// `label_classes` (LabelMap::label_classes(), int64 [K]) names the class of every contiguous
// label: only those columns of p compete, and the returned label is the contiguous one (for the
// contiguous label space with K = classes, exactly the official max over p[..., :-1]). Undefined:
// all K classes, label = class. No gradient.

#include <lowbit/modules/detection/detector.h>

namespace lowbit::detection {

// logits [B, Q, K+1], boxes [B, Q, 4] (cx, cy, w, h) normalised, orig_sizes int64 [B, 2]
// (height, width) -> "boxes" [B, Q, 4] (x1, y1, x2, y2) pixels, "scores" [B, Q], "labels" int64 [B, Q].
NamedTensors postprocess(const at::Tensor& logits, const at::Tensor& boxes, const at::Tensor& orig_sizes,
                         const at::Tensor& label_classes);

}  // namespace lowbit::detection
