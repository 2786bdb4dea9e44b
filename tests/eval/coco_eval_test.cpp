// The COCO evaluator's rules on cases small enough to work out by hand (each also checked
// against pycocotools 2.0.11 when written): crowd regions, the maxDets cut before matching, the
// order of equal scores, inclusive area ranges, -1 where nothing is evaluated, and the printout.
#include <lowbit/csrc/eval/coco_eval.h>

#include <gtest/gtest.h>

namespace {

using lowbit::eval::CocoAnnotation;
using lowbit::eval::CocoDetection;
using lowbit::eval::CocoGroundTruth;
using lowbit::eval::CocoStats;

CocoStats stats_of(const CocoGroundTruth& truth, const std::vector<CocoDetection>& detections) {
  return lowbit::eval::evaluate_coco(truth, detections).stats;
}

void expect_stats(const CocoStats& actual, const CocoStats& expected) {
  for (size_t i = 0; i < lowbit::eval::kCocoStats; ++i) {
    EXPECT_NEAR(actual[i], expected[i], 1e-12) << lowbit::eval::coco_stat_names()[i];
  }
}

// Image 1, category 1: a 10x10 object A at the origin (small) and a 100x100 crowd C at (100, 100).
CocoGroundTruth object_and_crowd() {
  return {{1}, {1}, {{1, 1, {0, 0, 10, 10}, 100, false}, {1, 1, {100, 100, 100, 100}, 10000, true}}};
}

}  // namespace

TEST(CocoEval, DetectionsInsideACrowdAreNeitherTruePositivesNorFalse) {
  // Three detections inside C rank above the one on A: counted as false positives they would
  // bring the precision at recall 1 down to 1/4.
  const auto stats = stats_of(object_and_crowd(), {{1, 1, {110, 110, 10, 10}, 0.9},
                                                   {1, 1, {120, 120, 10, 10}, 0.8},
                                                   {1, 1, {130, 130, 20, 20}, 0.7},
                                                   {1, 1, {0, 0, 10, 10}, 0.5}});
  expect_stats(stats, {1, 1, 1, 1, -1, -1, 0, 1, 1, 1, -1, -1});
}

TEST(CocoEval, IouWithACrowdDividesByTheDetectionArea) {
  // D (score 0.95) covers half of its own 100x100 area inside C: IoU = 5000 / 10000 = 0.5 (the
  // usual union would give 1/3), so at t = 0.5 D is matched to C and ignored, at t >= 0.55 it is a
  // false positive above the true positive on A: precision 1/2 at every recall point.
  // AP = (1 + 9 * 0.5) / 10; AR1 = 0, as D is the image's best detection; D lies outside "small",
  // so APs = 1; no non-crowd object is medium or large: -1.
  const auto stats = stats_of(object_and_crowd(), {{1, 1, {0, 0, 10, 10}, 0.9}, {1, 1, {50, 100, 100, 100}, 0.95}});
  expect_stats(stats, {0.55, 1, 0.5, 1, -1, -1, 0, 1, 1, 1, -1, -1});
}

TEST(CocoEval, OnlyTheBest100DetectionsOfAnImageAreMatched) {
  // 100 misses above the hit: the hit is cut before matching, so nothing is found.
  std::vector<CocoDetection> detections(100, CocoDetection{1, 1, {500, 500, 10, 10}, 0.9});
  detections.push_back({1, 1, {0, 0, 10, 10}, 0.1});
  const CocoGroundTruth truth{{1}, {1}, {{1, 1, {0, 0, 10, 10}, 100, false}}};
  expect_stats(stats_of(truth, detections), {0, 0, 0, 0, -1, -1, 0, 0, 0, 0, -1, -1});
  detections.pop_back();
  detections.insert(detections.begin(), CocoDetection{1, 1, {0, 0, 10, 10}, 0.1});
  EXPECT_EQ(stats_of(truth, detections)[0], 0) << "the cut is by score, not by input order";
}

TEST(CocoEval, EqualScoresRankByImageIdThenByRank) {
  // Both score 0.5: the miss on image 1 ranks before the hit on image 2 although listed after it
  // (numpy's stable mergesort over the images in id order). Precision 1/2 up to recall 1/2:
  // 51 of the 101 recall points, so AP = 25.5 / 101 at every threshold.
  const CocoGroundTruth truth{{2, 1}, {1}, {{1, 1, {0, 0, 10, 10}, 100, false}, {2, 1, {0, 0, 10, 10}, 100, false}}};
  const auto stats = stats_of(truth, {{2, 1, {0, 0, 10, 10}, 0.5}, {1, 1, {50, 50, 10, 10}, 0.5}});
  expect_stats(stats, {25.5 / 101, 25.5 / 101, 25.5 / 101, 25.5 / 101, -1, -1, 0.5, 0.5, 0.5, 0.5, -1, -1});
}

TEST(CocoEval, AreaRangesIncludeBothEnds) {
  // area 32² is small and medium.
  const CocoGroundTruth truth{{1}, {1}, {{1, 1, {0, 0, 32, 32}, 1024, false}}};
  expect_stats(stats_of(truth, {{1, 1, {0, 0, 32, 32}, 0.5}}), {1, 1, 1, 1, 1, -1, 1, 1, 1, 1, 1, -1});
}

TEST(CocoEval, NothingToFindIsMinusOne) {
  // No annotations at all; detections on an image without any, or of a category not evaluated.
  const CocoGroundTruth truth{{1, 2}, {1, 2}, {}};
  const auto stats = stats_of(truth, {{1, 1, {0, 0, 5, 5}, 0.3}, {2, 7, {0, 0, 5, 5}, 0.3}});
  for (const double s : stats) EXPECT_EQ(s, -1);
  const auto result = lowbit::eval::evaluate_coco(truth, {});
  EXPECT_EQ(result.precision.size(), 10u * 101 * 2 * 4 * 3);
  EXPECT_EQ(result.recall.size(), 10u * 2 * 4 * 3);
}

TEST(CocoEval, ImagesWithoutDetectionsLowerRecall) {
  // Two objects, one found: AR = 1/2; precision stays 1 up to recall 1/2: AP = 51 / 101.
  const CocoGroundTruth truth{{1, 2}, {1}, {{1, 1, {0, 0, 10, 10}, 100, false}, {2, 1, {0, 0, 10, 10}, 100, false}}};
  const auto stats = stats_of(truth, {{1, 1, {0, 0, 10, 10}, 0.5}});
  EXPECT_NEAR(stats[0], 51.0 / 101, 1e-12);
  EXPECT_NEAR(stats[8], 0.5, 1e-12);
}

TEST(CocoEval, SummaryPrintsPycocotoolsLines) {
  // pycocotools 2.0.11's summarize() for the crowd case above, as printed.
  const std::string expected =
      " Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.550\n"
      " Average Precision  (AP) @[ IoU=0.50      | area=   all | maxDets=100 ] = 1.000\n"
      " Average Precision  (AP) @[ IoU=0.75      | area=   all | maxDets=100 ] = 0.500\n"
      " Average Precision  (AP) @[ IoU=0.50:0.95 | area= small | maxDets=100 ] = 1.000\n"
      " Average Precision  (AP) @[ IoU=0.50:0.95 | area=medium | maxDets=100 ] = -1.000\n"
      " Average Precision  (AP) @[ IoU=0.50:0.95 | area= large | maxDets=100 ] = -1.000\n"
      " Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets=  1 ] = 0.000\n"
      " Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets= 10 ] = 1.000\n"
      " Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 1.000\n"
      " Average Recall     (AR) @[ IoU=0.50:0.95 | area= small | maxDets=100 ] = 1.000\n"
      " Average Recall     (AR) @[ IoU=0.50:0.95 | area=medium | maxDets=100 ] = -1.000\n"
      " Average Recall     (AR) @[ IoU=0.50:0.95 | area= large | maxDets=100 ] = -1.000\n";
  EXPECT_EQ(lowbit::eval::format_coco_summary({0.55, 1, 0.5, 1, -1, -1, 0, 1, 1, 1, -1, -1}), expected);
  const auto names = lowbit::eval::coco_stat_names();
  EXPECT_EQ(std::vector<std::string>(names.begin(), names.end()),
            (std::vector<std::string>{"AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"}));
}
