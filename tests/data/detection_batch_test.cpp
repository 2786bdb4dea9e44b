#include <lowbit/csrc/data/detection_batch.h>

#include <gtest/gtest.h>

#include <torch/torch.h>

using namespace lowbit::data;

namespace {

DetectionImage annotated_image() {
  // 64 x 48 (width x height); annotations (x, y, w, h), label, category id, area, ignore
  return {7,
          "/nowhere/7.jpg",
          64,
          48,
          {{{10, 10, 20, 20}, 0, 1, 400, false},
           {{60, 40, 10, 10}, 1, 2, 100, false},   // past the corner: clipped to (60, 40, 64, 48)
           {{70, 10, 5, 5}, 0, 1, 25, false},      // right of the image: empty once clipped
           {{5, 5, 0, 10}, 1, 2, 0, false},        // zero width
           {{0, 0, 5, 5}, 1, 2, 20.5, true}}};     // crowd
}

}  // namespace

TEST(DetectionBatch, SampleConvertsToCornersClipsAndDropsEmptyBoxes) {
  const auto pixels = torch::zeros({3, 48, 64}, torch::kByte);
  const auto sample = detection_sample(annotated_image(), pixels);
  EXPECT_TRUE(torch::equal(sample.boxes, torch::tensor({10.f, 10.f, 30.f, 30.f, 60.f, 40.f, 64.f, 48.f, 0.f, 0.f, 5.f, 5.f}).view({3, 4})));
  EXPECT_TRUE(torch::equal(sample.labels, torch::tensor({0, 1, 1}, torch::kLong)));
  EXPECT_TRUE(torch::equal(sample.ignore, torch::tensor({false, false, true})));
  EXPECT_TRUE(sample.image.is_same(pixels));
}

TEST(DetectionBatch, TargetHoldsNormalisedTrainingBoxesAndEveryOriginalAnnotation) {
  DetectionSample transformed{torch::zeros({3, 50, 100}), torch::tensor({10.f, 20.f, 30.f, 40.f, 0.f, 0.f, 100.f, 50.f}).view({2, 4}),
                              torch::tensor({3, 4}, torch::kLong), torch::tensor({false, true})};
  const auto image = annotated_image();
  const auto target = detection_target(image, 48, 64, transformed);
  // (cx, cy, w, h) / (W, H, W, H) = (20, 30, 20, 20) / (100, 50, 100, 50); the crowd box is left out
  EXPECT_TRUE(torch::allclose(target.boxes, torch::tensor({0.2f, 0.6f, 0.2f, 0.4f}).view({1, 4})));
  EXPECT_TRUE(torch::equal(target.labels, torch::tensor({3}, torch::kLong)));
  EXPECT_EQ(target.image_id.dim(), 0);
  EXPECT_EQ(target.image_id.item<int64_t>(), 7);
  EXPECT_TRUE(torch::equal(target.orig_size, torch::tensor({48, 64}, torch::kLong)));
  ASSERT_EQ(target.gt_boxes.sizes(), (std::vector<int64_t>{5, 4}));
  EXPECT_TRUE(torch::equal(target.gt_boxes[1], torch::tensor({60.f, 40.f, 10.f, 10.f})));
  EXPECT_TRUE(torch::equal(target.gt_labels, torch::tensor({0, 1, 0, 1, 1}, torch::kLong)));
  EXPECT_TRUE(torch::equal(target.gt_area, torch::tensor({400.f, 100.f, 25.f, 0.f, 20.5f})));
  EXPECT_TRUE(torch::equal(target.gt_iscrowd, torch::tensor({false, false, false, false, true})));
}

TEST(DetectionBatch, CollatePadsBottomRightAndMasksThePadding) {
  const auto a = torch::ones({3, 2, 3}), b = torch::full({3, 4, 2}, 2.0);
  const auto batch = collate_detection({a, b}, std::vector<DetectionTarget>(2));
  ASSERT_EQ(batch.images.sizes(), (std::vector<int64_t>{2, 3, 4, 3}));
  EXPECT_TRUE(torch::equal(batch.images[0].narrow(1, 0, 2).narrow(2, 0, 3), a));
  EXPECT_EQ(batch.images[0].sum().item<float>(), a.sum().item<float>());  // zero elsewhere
  EXPECT_TRUE(torch::equal(batch.images[1].narrow(2, 0, 2), b));
  EXPECT_EQ(batch.images[1].sum().item<float>(), b.sum().item<float>());
  const auto mask = torch::tensor({0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1,    // image 0: 2 x 3 of 4 x 3
                                   0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1})  // image 1: 4 x 2 of 4 x 3
                        .to(torch::kBool)
                        .view({2, 4, 3});
  EXPECT_TRUE(torch::equal(batch.mask, mask));
  EXPECT_TRUE(torch::equal(batch.image_sizes, torch::tensor({2.f, 3.f, 4.f, 2.f}).view({2, 2})));
  EXPECT_EQ(batch.targets.size(), 2u);
}

TEST(DetectionBatch, CollatePadsToAMultipleOfTheSizeDivisor) {
  const auto a = torch::ones({3, 33, 40}), b = torch::full({3, 20, 70}, 2.0);
  const auto batch = collate_detection({a, b}, std::vector<DetectionTarget>(2), 32);
  ASSERT_EQ(batch.images.sizes(), (std::vector<int64_t>{2, 3, 64, 96}));
  EXPECT_EQ(batch.images[0].sum().item<float>(), a.sum().item<float>());
  EXPECT_EQ(batch.mask[0].logical_not().sum().item<int64_t>(), 33 * 40);
  EXPECT_EQ(batch.mask[1].logical_not().sum().item<int64_t>(), 20 * 70);
  EXPECT_TRUE(torch::equal(batch.image_sizes, torch::tensor({33.f, 40.f, 20.f, 70.f}).view({2, 2})));
  EXPECT_EQ(collate_detection({torch::ones({3, 64, 32})}, std::vector<DetectionTarget>(1), 32).images.sizes(),
            (std::vector<int64_t>{1, 3, 64, 32}));
  EXPECT_THROW(collate_detection({a}, std::vector<DetectionTarget>(1), 0), c10::Error);
}
