#pragma once
// The detection metrics (metrics/detection.cpp), by name as every metric (metric.h):
//   coco_bbox  pycocotools' 12 bbox numbers (eval/coco_eval.h) as fractions, -1 where nothing was
//              evaluated: "AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100",
//              "ARs", "ARm", "ARl". Evaluated: the images of the batches, every category of
//              meta["category_ids"] (as DETR's CocoEvaluator sets params.imgIds to the images seen)
//   voc_ap     "AP50": the PASCAL VOC mAP at IoU 0.5 (eval/voc_eval.h) as a fraction;
//              `form: 11point` (VOC2007, the default) or `area` (VOC2010 and later)
// Both read, per image, batch.targets[i]: "image_id" [], "gt_boxes" [A, 4] (x, y, w, h) pixels of
// the original image, "gt_labels" [A], "gt_area" [A] (coco_bbox) and "gt_iscrowd" [A] (COCO
// iscrowd, VOC difficult); the model's predictions "boxes" [B, Q, 4] (x1, y1, x2, y2) in original
// pixels, "scores" [B, Q], "labels" [B, Q] (rows labelled -1 are unused and skipped); and meta["category_ids"] [K], the category id of each
// label. update() copies a batch to the host (one transfer per dtype); an image seen twice is an
// error. merge() gathers every replica's images, ground truth and predictions, bit for bit, so that
// compute() evaluates their union; an image of two replicas is an error. VOC boxes are continuous
// coordinates (data/voc.h: x = xmin - 1, w = xmax - xmin + 1), given to the evaluator in the
// devkit's inclusive pixels as (x + 1, y + 1, x + w, y + h), as detectron2's
// PascalVOCDetectionEvaluator writes its results (xmin += 1, ymin += 1).

#include <lowbit/csrc/engine/metrics/metric.h>

#include <optional>
#include <string>

namespace lowbit::engine {

// pycocotools' 12 summary lines (eval::format_coco_summary) from coco_bbox's values among
// `values`; nullopt when one of them is missing.
std::optional<std::string> coco_summary(const MetricValues& values);

}  // namespace lowbit::engine
