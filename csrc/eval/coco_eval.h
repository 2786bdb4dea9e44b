#pragma once
// COCO bounding-box evaluation, number for number as pycocotools' COCOeval (iouType "bbox",
// default Params; pycocotools 2.0.11, PythonAPI/pycocotools/cocoeval.py): evaluate(),
// accumulate() and summarize()'s 12 numbers.
//
//   IoU(d, g)      = |d ∩ g| / |d ∪ g|, and |d ∩ g| / |d| against a crowd g (maskApi.c bbIou)
//   thresholds     t = 0.50, 0.55, ..., 0.95; recall points r = 0.00, 0.01, ..., 1.00
//   area ranges    all [0, 1e10], small [0, 32²], medium [32², 96²], large [96², 1e10], both ends
//                  inclusive: a ground truth's "area" field, a detection's w * h (as loadRes)
//   per (image, category): detections by descending score (ties: input order, numpy's mergesort),
//                  the first 100 matched greedily to the best still-free ground truth (a crowd
//                  one stays free); crowds and ground truth outside the area range are "ignore":
//                  a detection matched to one, or unmatched and outside the range, is neither TP
//                  nor FP
//   per category:  the images' first maxDet (1, 10, 100) detections merged by descending score
//                  (ties: image order, then rank), precision made monotone from the right,
//                  read at the first index whose recall >= r (np.searchsorted, side 'left'),
//                  0 past the last recall
//   AP / AR        mean over the thresholds, recall points and categories with at least one
//                  non-ignored ground truth; -1 when there is none
//
// Ground truth and detections outside the evaluated image and category ids are left out, as
// pycocotools' params.imgIds / params.catIds leave them out. Annotation ids play no part: a
// match is a flag here, where pycocotools stores the ground truth's id and so takes a match to an
// annotation with id 0 for none (COCO's ids start at 1).

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace lowbit::eval {

// (x, y, width, height) in pixels of the original image, as COCO's "bbox".
using CocoBox = std::array<double, 4>;

struct CocoAnnotation {
  int64_t image_id;
  int64_t category_id;
  CocoBox bbox;
  double area;   // the annotation's "area" (of its segmentation): selects small, medium, large
  bool iscrowd;  // a crowd region: "ignore", and matched by any number of detections
};

struct CocoDetection {
  int64_t image_id;
  int64_t category_id;
  CocoBox bbox;
  double score;
};

// What pycocotools' COCO(instances.json) contributes to a bbox evaluation.
struct CocoGroundTruth {
  std::vector<int64_t> image_ids;     // the images evaluated (params.imgIds), with or without annotations
  std::vector<int64_t> category_ids;  // the categories evaluated (params.catIds)
  std::vector<CocoAnnotation> annotations;  // in file order, which breaks ties as in pycocotools
};

// summarize()'s 12 numbers, in its order.
constexpr size_t kCocoStats = 12;
using CocoStats = std::array<double, kCocoStats>;
// "AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl".
const std::array<const char*, kCocoStats>& coco_stat_names();

// The parameters (pycocotools' Params.setDetParams).
constexpr size_t kCocoIouThresholds = 10;   // T
constexpr size_t kCocoRecallPoints = 101;   // R
constexpr size_t kCocoAreaRanges = 4;       // A: all, small, medium, large
constexpr size_t kCocoMaxDets = 3;          // M: 1, 10, 100

struct CocoEvalResult {
  CocoStats stats;  // COCOeval.stats; -1 where nothing was evaluated
  // eval['precision'] [T, R, K, A, M] and eval['recall'] [T, K, A, M], row-major, K the sorted
  // unique category ids; -1 for a category without non-ignored ground truth.
  std::vector<double> precision;
  std::vector<double> recall;
  std::vector<int64_t> category_ids;  // K, sorted
};

struct CocoEvalOptions {
  int threads = 0;  // worker threads over categories; 0: one per hardware thread
};

CocoEvalResult evaluate_coco(const CocoGroundTruth& ground_truth, const std::vector<CocoDetection>& detections,
                             const CocoEvalOptions& options = {});

// The 12 lines of summarize(), each ending in a newline:
//   " Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.372"
std::string format_coco_summary(const CocoStats& stats);

}  // namespace lowbit::eval
