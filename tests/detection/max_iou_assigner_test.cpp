// mmdetection's MaxIoUAssigner and RandomSampler (modules/detection/max_iou_assigner.h) on boxes
// whose IoUs are set by hand.
#include <lowbit/modules/detection/max_iou_assigner.h>

#include <gtest/gtest.h>

#include <torch/torch.h>

namespace max_iou_assigner_test {  // named: the unity build joins test files

using lowbit::detection::assign_max_iou;
using lowbit::detection::MaxIoUAssignerOptions;
using lowbit::detection::RandomSamplerOptions;
using lowbit::detection::sample_randomly;

// Ground truth A = [0, 0, 10, 10] and B = [100, 100, 110, 110]; each box's IoU in the comment.
torch::Tensor gt() { return torch::tensor({0., 0., 10., 10., 100., 100., 110., 110.}).view({2, 4}); }
torch::Tensor boxes() {
  return torch::tensor({0., 0., 10., 8.,          // A 0.8
                        0., 0., 10., 5.,          // A 0.5
                        0., 0., 10., 2.,          // A 0.2
                        100., 100., 110., 105.,   // B 0.5
                        100., 100., 105., 110.,   // B 0.5
                        200., 200., 210., 210.})  // none
      .view({6, 4})
      .to(torch::kFloat);
}
torch::Tensor labels() { return torch::tensor({3L, 7L}); }

MaxIoUAssignerOptions rpn() { return MaxIoUAssignerOptions().pos_iou_thr(0.7).neg_iou_thr(0.3).min_pos_iou(0.3); }

TEST(MaxIoUAssigner, PositivesNegativesIgnoredAndLowQualityMatches) {
  const auto a = assign_max_iou(boxes(), gt().to(torch::kFloat), labels(), rpn());
  // B's best IoU is 0.5 < 0.7, so B takes both boxes that reach it; A's 0.5 box stays ignored.
  EXPECT_TRUE(torch::equal(a.gt_index, torch::tensor({1L, -1L, 0L, 2L, 2L, 0L})));
  EXPECT_TRUE(torch::equal(a.labels, torch::tensor({3L, -1L, -1L, 7L, 7L, -1L})));
  EXPECT_TRUE(torch::allclose(a.max_overlaps, torch::tensor({0.8f, 0.5f, 0.2f, 0.5f, 0.5f, 0.0f})));
  // Without low-quality matches B's boxes are ignored; taking only the first best takes one.
  const auto plain = assign_max_iou(boxes(), gt().to(torch::kFloat), labels(), rpn().match_low_quality(false));
  EXPECT_TRUE(torch::equal(plain.gt_index, torch::tensor({1L, -1L, 0L, -1L, -1L, 0L})));
  const auto first = assign_max_iou(boxes(), gt().to(torch::kFloat), labels(), rpn().gt_max_assign_all(false));
  EXPECT_TRUE(torch::equal(first.gt_index, torch::tensor({1L, -1L, 0L, 2L, -1L, 0L})));
  // R-CNN's 0.5 / 0.5 / 0.5 without low-quality matches: 0.5 is positive.
  const auto rcnn = assign_max_iou(boxes(), gt().to(torch::kFloat), labels(),
                                   MaxIoUAssignerOptions().pos_iou_thr(0.5).neg_iou_thr(0.5).min_pos_iou(0.5).match_low_quality(false));
  EXPECT_TRUE(torch::equal(rcnn.gt_index, torch::tensor({1L, 1L, 0L, 2L, 2L, 0L})));
}

TEST(MaxIoUAssigner, WithoutGroundTruthEverythingIsBackgroundAndGroundTruthComesFirst) {
  const auto none = assign_max_iou(boxes(), torch::zeros({0, 4}), torch::zeros({0}, torch::kLong), rpn());
  EXPECT_TRUE(torch::equal(none.gt_index, torch::zeros({6}, torch::kLong)));
  const auto a = assign_max_iou(boxes(), gt().to(torch::kFloat), labels(), rpn()).with_ground_truth_first(labels());
  EXPECT_TRUE(torch::equal(a.gt_index, torch::tensor({1L, 2L, 1L, -1L, 0L, 2L, 2L, 0L})));
  EXPECT_TRUE(torch::equal(a.labels.slice(0, 0, 2), labels()));
  EXPECT_EQ(a.max_overlaps[1].item<float>(), 1.0f);
}

TEST(RandomSampler, TakesAtMostItsShareOfPositivesAndFillsWithNegatives) {
  // 300 boxes: every third positive (assigned to ground truth 1), the rest background, two ignored.
  auto gt_index = torch::zeros({300}, torch::kLong);
  gt_index.slice(0, 0, 300, 3).fill_(1);
  gt_index[1] = -1;
  gt_index[2] = -1;
  const lowbit::detection::AssignResult assigned{gt_index, torch::zeros({300}), torch::zeros({300}, torch::kLong)};
  auto generator = at::make_generator<at::CPUGeneratorImpl>(7);
  const auto s = sample_randomly(assigned, RandomSamplerOptions().num(128).pos_fraction(0.25), generator);
  EXPECT_EQ(s.positives.numel(), 32);
  EXPECT_EQ(s.negatives.numel(), 96);
  EXPECT_TRUE(gt_index.index_select(0, s.positives).eq(1).all().item<bool>());
  EXPECT_TRUE(gt_index.index_select(0, s.negatives).eq(0).all().item<bool>());
  EXPECT_TRUE(torch::equal(s.positives, std::get<0>(s.positives.sort())));
  EXPECT_EQ(std::get<0>(at::_unique(s.negatives)).numel(), 96);
  // The same generator state draws the same boxes; few positives leave the rest to negatives.
  auto again = at::make_generator<at::CPUGeneratorImpl>(7);
  EXPECT_TRUE(torch::equal(sample_randomly(assigned, RandomSamplerOptions().num(128).pos_fraction(0.25), again).negatives,
                           s.negatives));
  const auto many = sample_randomly(assigned, RandomSamplerOptions().num(256).pos_fraction(0.5));
  EXPECT_EQ(many.positives.numel(), 100);
  EXPECT_EQ(many.negatives.numel(), 156);
}

}  // namespace max_iou_assigner_test
