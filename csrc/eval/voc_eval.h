#pragma once
// PASCAL VOC detection AP at IoU 0.5, per class and its mean, as the VOC devkit's VOCevaldet.m
// (VOCdevkit 2007: 11 points; 2010 and later: VOCap.m, the area) and its Python ports
// (py-faster-rcnn's voc_eval.py, mmdet's eval_map with use_legacy_coordinate=True):
//
//   boxes      (x1, y1, x2, y2) in the devkit's coordinates (the XML's xmin, ymin, xmax, ymax:
//              pixels counted inclusively), so width = x2 - x1 + 1 and height = y2 - y1 + 1.
//              The devkit's convention, which mmdet's VOCMetric keeps "to follow the official
//              implementation" and detectron2's pascal_voc_evaluation.py keeps as well.
//   matching   per class, detections by descending score (ties: input order, as MATLAB's stable
//              sort); each takes the ground truth of its image with the largest IoU (the first of
//              equal ones, matched before or not). IoU >= 0.5 (VOCevaldet.m `ovmax >=
//              minoverlap`, as mmdet; voc_eval.py has `>`): a difficult one makes the detection
//              neither TP nor FP, a first match is a TP, a later one a FP (a duplicate); an IoU
//              < 0.5 is a FP.
//   curve      recall = TP / (non-difficult ground truth), precision = TP / max(TP + FP, eps)
//              (voc_eval.py; the devkit's 0/0 where a difficult match comes first adds nothing
//              either way)
//   11 points  AP = Σ_{t = 0, 0.1, ..., 1} max{precision : recall >= t} / 11, 0 where none,
//              t = k * 0.1 as numpy's arange makes it (voc_eval.py, mmdet: 0.6 and 0.7 land one
//              ulp above MATLAB's 0:0.1:1, which only tells at a recall of exactly 3/5 or 7/10)
//   area       precision made non-increasing from the right; AP = Σ (r_i - r_{i-1}) p_i over the
//              detections where recall changes, from r = 0
//   mAP        the mean over the classes with at least one non-difficult ground truth (mmdet's
//              eval_map; the VOC test sets have some in every class)

#include <array>
#include <cstdint>
#include <vector>

namespace lowbit::eval {

// (x1, y1, x2, y2): see above.
using VocBox = std::array<double, 4>;

struct VocObject {
  int64_t image_id;
  int64_t label;  // class 0..K-1
  VocBox box;
  bool difficult;
};

struct VocDetection {
  int64_t image_id;
  int64_t label;
  VocBox box;
  double score;
};

enum class VocApForm { ElevenPoint, Area };

struct VocEvalResult {
  std::vector<double> ap;  // per class; -1 for a class without non-difficult ground truth
  double map;              // -1 when no class has any
};

// Labels outside [0, num_classes) are an error naming the entry.
VocEvalResult evaluate_voc(const std::vector<VocObject>& ground_truth, const std::vector<VocDetection>& detections,
                           int64_t num_classes, VocApForm form);

// The AP of one curve: recall and precision after each detection in score order.
double voc_average_precision(const std::vector<double>& recall, const std::vector<double>& precision, VocApForm form);

}  // namespace lowbit::eval
