// PASCAL VOC AP on cases worked out by hand: the devkit's inclusive pixels and IoU >= 0.5,
// difficult objects, duplicates, the 11-point and area forms, classes without objects.
#include <lowbit/csrc/eval/voc_eval.h>

#include "support/error_of.h"

#include <gtest/gtest.h>

namespace {

using lowbit::eval::VocApForm;
using lowbit::eval::VocDetection;
using lowbit::eval::VocObject;

double ap_of(const std::vector<VocObject>& truth, const std::vector<VocDetection>& detections, VocApForm form) {
  return lowbit::eval::evaluate_voc(truth, detections, 1, form).ap.at(0);
}

}  // namespace

TEST(VocEval, TheElevenPointAndAreaFormsOfOneCurve) {
  // Objects: a1, a2 on image 1; b1 and the difficult b2 on image 2. Detections by score: a1 (TP),
  // b2 (difficult: neither), a1 again (a duplicate: FP), b1 (TP); a2 is never found.
  //   recall    1/3  1/3  1/3  2/3
  //   precision 1    1    1/2  2/3
  // 11 points: t = 0, 0.1, 0.2, 0.3 see precision 1, t = 0.4, 0.5, 0.6 see 2/3: (4 + 3 * 2/3) / 11.
  // Area: 1/3 * 1 + 1/3 * 2/3 = 5/9.
  const std::vector<VocObject> truth{{1, 0, {1, 1, 10, 10}, false},
                                     {1, 0, {51, 51, 60, 60}, false},
                                     {2, 0, {1, 1, 10, 10}, false},
                                     {2, 0, {101, 101, 110, 110}, true}};
  const std::vector<VocDetection> detections{{1, 0, {1, 1, 10, 10}, 0.6},
                                             {2, 0, {1, 1, 10, 10}, 0.5},
                                             {1, 0, {1, 1, 10, 10}, 0.9},
                                             {2, 0, {101, 101, 110, 110}, 0.7}};
  EXPECT_NEAR(ap_of(truth, detections, VocApForm::ElevenPoint), 6.0 / 11, 1e-12);
  EXPECT_NEAR(ap_of(truth, detections, VocApForm::Area), 5.0 / 9, 1e-12);
}

TEST(VocEval, PixelsAreInclusiveAndHalfOverlapMatches) {
  // (1, 1)-(10, 10) is 10x10 pixels; (1, 1)-(10, 5) covers 10x5 of them: IoU exactly 0.5, a match
  // (continuous widths would give 9x4 / 9x9 < 0.5). (1, 1)-(10, 4): 0.4, a miss.
  const std::vector<VocObject> truth{{1, 0, {1, 1, 10, 10}, false}};
  EXPECT_EQ(ap_of(truth, {{1, 0, {1, 1, 10, 5}, 0.9}}, VocApForm::Area), 1);
  EXPECT_EQ(ap_of(truth, {{1, 0, {1, 1, 10, 4}, 0.9}}, VocApForm::Area), 0);
  EXPECT_EQ(ap_of(truth, {{2, 0, {1, 1, 10, 10}, 0.9}}, VocApForm::Area), 0) << "another image's object";
}

TEST(VocEval, ADuplicateIsAFalsePositiveEvenWithAnotherObjectInReach) {
  // g2 overlaps the second detection by 2/3, but g1 overlaps it more and was taken: a FP (COCO
  // would match g2). recall 1/2, 1/2; precision 1, 1/2: 11 points t = 0 .. 0.5 see 1: 6/11.
  const std::vector<VocObject> truth{{1, 0, {1, 1, 10, 10}, false}, {1, 0, {3, 1, 12, 10}, false}};
  const std::vector<VocDetection> detections{{1, 0, {1, 1, 10, 10}, 0.9}, {1, 0, {1, 1, 10, 10}, 0.8}};
  EXPECT_NEAR(ap_of(truth, detections, VocApForm::ElevenPoint), 6.0 / 11, 1e-12);
  EXPECT_NEAR(ap_of(truth, detections, VocApForm::Area), 0.5, 1e-12);
}

TEST(VocEval, ClassesWithoutPositivesAreLeftOutOfTheMean) {
  // Class 0 has a difficult object only, class 1 detections only, class 3 nothing: no positives,
  // so they are not evaluated (-1, not in the mean). Class 2: a FP above a TP, 1/2 at recall 1.
  const auto result = lowbit::eval::evaluate_voc({{1, 0, {1, 1, 10, 10}, true}, {1, 2, {1, 1, 10, 10}, false}},
                                                 {{1, 0, {1, 1, 10, 10}, 0.9}, {1, 1, {1, 1, 10, 10}, 0.9},
                                                  {1, 2, {1, 1, 10, 10}, 0.4}, {1, 2, {30, 30, 40, 40}, 0.8}},
                                                 4, VocApForm::Area);
  EXPECT_EQ(result.ap, (std::vector<double>{-1, -1, 0.5, -1}));
  EXPECT_EQ(result.map, 0.5);
  EXPECT_EQ(lowbit::eval::evaluate_voc({}, {}, 3, VocApForm::Area).map, -1);
  // An object never detected: AP 0, in the mean.
  const auto with_miss = lowbit::eval::evaluate_voc({{1, 0, {1, 1, 10, 10}, false}, {1, 1, {1, 1, 10, 10}, false}},
                                                    {{1, 0, {1, 1, 10, 10}, 0.9}}, 2, VocApForm::ElevenPoint);
  EXPECT_NEAR(with_miss.ap.at(0), 1, 1e-12);
  EXPECT_EQ(with_miss.ap.at(1), 0);
  EXPECT_NEAR(with_miss.map, 0.5, 1e-12);
}

TEST(VocEval, AveragePrecisionOfACurve) {
  // t = 0.6 is numpy's 0.6000000000000001, above a recall of 3/5: only t <= 0.5 count.
  // 11 points: 1 at t = 0 .. 0.4, 0.6 at t = 0.5: 5.6 / 11.
  // Area: 0.2 * 1 + 0.2 * 1 + 0.2 * 0.6 (the 1/2 at 0.4 is lifted to 0.6 from the right) = 0.52.
  const std::vector<double> recall{1.0 / 5, 2.0 / 5, 2.0 / 5, 3.0 / 5}, precision{1, 1, 0.5, 0.6};
  EXPECT_NEAR(lowbit::eval::voc_average_precision(recall, precision, VocApForm::ElevenPoint), 5.6 / 11, 1e-12);
  EXPECT_NEAR(lowbit::eval::voc_average_precision(recall, precision, VocApForm::Area), 0.52, 1e-12);
  EXPECT_EQ(lowbit::eval::voc_average_precision({}, {}, VocApForm::ElevenPoint), 0);
  EXPECT_EQ(lowbit::eval::voc_average_precision({}, {}, VocApForm::Area), 0);
}

TEST(VocEval, LabelsOutsideTheClassesAreErrors) {
  using lowbit::testing::error_of;
  EXPECT_EQ(error_of([] { lowbit::eval::evaluate_voc({{4, 0, {1, 1, 2, 2}, false}, {5, 20, {1, 1, 2, 2}, false}}, {}, 20,
                                                     VocApForm::Area); }),
            "VOC evaluation: ground truth[1] (image_id 5) has label 20, outside [0, 20)");
  EXPECT_EQ(error_of([] { lowbit::eval::evaluate_voc({}, {{4, -1, {1, 1, 2, 2}, 0.5}}, 20, VocApForm::Area); }),
            "VOC evaluation: detection[0] (image_id 4) has label -1, outside [0, 20)");
}
