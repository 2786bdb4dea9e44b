#pragma once
// Written by tests/eval/make_coco_reference.py (pycocotools 2.0.11, numpy 2.4.6, Python 3.11.7): COCOeval
// (iouType bbox) stats on coco-sample/annotations/instances_val2017.json for each prediction set,
// with the number of detections and the sum of their box coordinates (in order) to check that
// the C++ generator made the same set.

#include <array>
#include <cstddef>
#include <cstdint>

namespace lowbit::testing::coco_reference {

struct PredictionSet {
  const char* name;
  size_t detections;
  double box_sum;
  std::array<double, 12> stats;
};

constexpr int64_t kImageWithoutPredictions = 139;

constexpr PredictionSet kGroundTruth = {"ground_truth", 1672, 1097992.9200000023,
    {0.9861386138613861, 0.9861386138613861, 0.9861386138613861, 0.9660769355624087, 0.9822069163438083, 0.9987015094952119, 0.6424365895875523, 0.9715524147924939, 0.9865622590099392, 0.9662569314589903, 0.9824276130594584, 0.9988290398126463}};
constexpr PredictionSet kJittered = {"jittered", 2540, 1658962.5744005907,
    {0.21385277762518592, 0.6605381982085573, 0.049330971928580776, 0.2446873009265041, 0.26082438770031013, 0.26193566389402634, 0.21449544548519983, 0.34462572167729955, 0.3571683629117813, 0.3529381990120117, 0.3587857590348756, 0.3735305814404175}};
constexpr PredictionSet kRandom = {"random", 11739, 8119232.821728256,
    {0.008583492679985007, 0.043260896752731905, 0.000392442864619545, 0.0112817579888287, 0.019089336873583006, 0.0154800784335928, 0.0295516186779068, 0.09823680794245648, 0.1141409889003999, 0.09068972205611113, 0.10146847082463577, 0.13638098695475745}};

}  // namespace lowbit::testing::coco_reference
