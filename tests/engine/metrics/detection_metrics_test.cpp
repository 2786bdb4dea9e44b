// The detection metrics by name on hand-made batches: coco_bbox reads the targets and the
// predictions as DETR's CocoEvaluator does (xyxy -> xywh, labels -> category ids), voc_ap as the
// devkit (continuous boxes -> inclusive pixels, difficult objects ignored); errors name the key.
#include <lowbit/csrc/engine/metrics/detection.h>

#include "support/error_of.h"

#include <gtest/gtest.h>

#include <torch/torch.h>

namespace {

using lowbit::engine::Batch;
using lowbit::engine::Outputs;

lowbit::engine::TensorMap target(int64_t image_id, std::vector<float> boxes, std::vector<int64_t> labels,
                                 std::vector<float> area, std::vector<bool> crowd) {
  const auto n = static_cast<int64_t>(labels.size());
  std::vector<uint8_t> crowd_bytes(crowd.begin(), crowd.end());
  return {{"image_id", torch::tensor(image_id)},
          {"gt_boxes", torch::tensor(boxes).reshape({n, 4})},
          {"gt_labels", torch::tensor(labels)},
          {"gt_area", torch::tensor(area)},
          {"gt_iscrowd", torch::tensor(crowd_bytes).to(torch::kBool)}};
}

Batch batch_of(std::vector<lowbit::engine::TensorMap> targets, std::vector<int64_t> category_ids) {
  Batch batch;
  batch.images = torch::zeros({static_cast<int64_t>(targets.size()), 3, 4, 4});
  batch.targets = std::move(targets);
  batch.meta["category_ids"] = torch::tensor(category_ids);
  return batch;
}

// Predictions [B, Q]: boxes xyxy, scores, labels.
Outputs predictions(std::vector<float> boxes, std::vector<float> scores, std::vector<int64_t> labels, int64_t images) {
  const int64_t q = static_cast<int64_t>(scores.size()) / images;
  return {{"boxes", torch::tensor(boxes).reshape({images, q, 4})},
          {"scores", torch::tensor(scores).reshape({images, q})},
          {"labels", torch::tensor(labels).reshape({images, q})}};
}

void expect_values(const lowbit::engine::MetricValues& values, const std::vector<double>& expected) {
  ASSERT_EQ(values.size(), expected.size());
  for (size_t i = 0; i < values.size(); ++i) EXPECT_NEAR(values[i].second, expected[i], 1e-12) << values[i].first;
}

}  // namespace

TEST(CocoBboxMetric, ConvertsBoxesAndLabelsAsDetr) {
  // Categories 1 and 3 (labels 0, 1). Image 10: a small object of category 1; image 11: a medium
  // one of category 3. Each image's best prediction hits its object exactly once (x2, y2) become
  // (w, h) and label 1 becomes category 3 (left as xyxy, the (20, 20, 70, 70) box would have IoU
  // 0.51); the others are misses below them: every number is 1, but those without an object in
  // their area range (-1).
  auto metric = lowbit::engine::make_metric("coco_bbox");
  const auto batch = batch_of({target(10, {0, 0, 10, 10}, {0}, {100}, {false}),
                               target(11, {20, 20, 50, 50, 300, 300, 100, 100}, {1, 1}, {2500, 10000}, {false, true})},
                              {1, 3});
  metric->update(batch, predictions({0, 0, 10, 10, 100, 100, 110, 110, 20, 20, 70, 70, 0, 0, 5, 5},
                                    {0.9f, 0.1f, 0.8f, 0.2f}, {0, 1, 1, 0}, 2));
  const auto values = metric->compute();
  ASSERT_EQ(values.size(), 12u);
  EXPECT_EQ(values[0].first, "AP");
  EXPECT_EQ(values[11].first, "ARl");
  expect_values(values, {1, 1, 1, 1, 1, -1, 1, 1, 1, 1, 1, -1});
  const auto summary = lowbit::engine::coco_summary(values);
  ASSERT_TRUE(summary.has_value());
  EXPECT_EQ(summary->substr(0, summary->find('\n')),
            " Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 1.000");
  EXPECT_FALSE(lowbit::engine::coco_summary({{"AP", 1.0}}).has_value());

  // A second batch with an image whose object is missed: recall 2/3 on "all".
  metric->update(batch_of({target(12, {0, 0, 40, 40}, {0}, {1600}, {false})}, {1, 3}),
                 predictions({0, 0, 5, 5}, {0.3f}, {1}, 1));
  EXPECT_NEAR(metric->compute()[8].second, (1.0 + 0.5) / 2, 1e-12) << "AR100: category 1 found 1 of 2";
  metric->reset();
  expect_values(metric->compute(), std::vector<double>(12, -1.0));
}

TEST(CocoBboxMetric, ErrorsNameWhatIsMissing) {
  using lowbit::testing::error_of;
  auto metric = lowbit::engine::make_metric("coco_bbox");
  auto target_without_area = target(10, {0, 0, 10, 10}, {0}, {100}, {false});
  target_without_area.erase("gt_area");
  const auto outputs = predictions({0, 0, 10, 10}, {0.9f}, {0}, 1);
  EXPECT_EQ(error_of([&] { metric->update(batch_of({target_without_area}, {1}), outputs); }),
            "metric 'coco_bbox': batch.targets[0] has no 'gt_area'");
  const auto batch = batch_of({target(10, {0, 0, 10, 10}, {0}, {100}, {false})}, {1});
  EXPECT_EQ(error_of([&] { metric->update(batch, predictions({0, 0, 10, 10}, {0.9f}, {3}, 1)); }),
            "metric 'coco_bbox': label 3 outside [0, 1) of meta[\"category_ids\"]");
  metric->reset();
  metric->update(batch, outputs);
  EXPECT_EQ(error_of([&] { metric->update(batch, outputs); }),
            "metric 'coco_bbox': image_id 10 was evaluated twice (the data set lists it twice?)");
}

TEST(VocApMetric, UsesTheDevkitPixelsAndIgnoresDifficultObjects) {
  // Continuous boxes (data/voc.h): the object (0, 0, 10, 10) is the devkit's (1, 1)-(10, 10); the
  // prediction (0, 0, 10, 5) its (1, 1)-(10, 5): IoU 0.5, a match. A miss scores above it: recall
  // 1 at precision 1/2, AP 0.5 in both forms. The prediction on the difficult object counts for
  // nothing; class 1 has no object and stays out of the mean.
  const auto batch = batch_of({target(0, {0, 0, 10, 10, 50, 50, 20, 20}, {0, 0}, {100, 400}, {false, true})}, {1, 2});
  const auto outputs = predictions({0, 0, 10, 5, 200, 200, 210, 210, 50, 50, 70, 70, 0, 0, 10, 10},
                                   {0.8f, 0.9f, 0.95f, 0.7f}, {0, 0, 0, 1}, 1);
  for (const std::string form : {"11point", "area"}) {
    auto metric = lowbit::engine::make_metric("voc_ap", {{"form", form}});
    metric->update(batch, outputs);
    const auto values = metric->compute();
    ASSERT_EQ(values.size(), 1u);
    EXPECT_EQ(values[0].first, "AP50");
    EXPECT_NEAR(values[0].second, 0.5, 1e-12) << form;
  }
  try {
    lowbit::engine::make_metric("voc_ap", {{"form", std::string("11points")}});
    ADD_FAILURE() << "form 11points accepted";
  } catch (const lowbit::OptionError& e) {
    EXPECT_EQ(e.key(), std::vector<std::string>{"form"});
  }
}
