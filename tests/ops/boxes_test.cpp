#include <lowbit/csrc/ops/boxes.h>

#include "support/error_of.h"
#include "support/gradcheck.h"

#include <gtest/gtest.h>

#include <torch/torch.h>

namespace ops = lowbit::ops;

TEST(Boxes, FormatConversionsRoundTrip) {
  const auto cxcywh = torch::tensor({{0.5, 0.5, 0.2, 0.4}, {1.0, 2.0, 2.0, 1.0}}, torch::kDouble);
  const auto xyxy = torch::tensor({{0.4, 0.3, 0.6, 0.7}, {0.0, 1.5, 2.0, 2.5}}, torch::kDouble);
  EXPECT_TRUE(torch::allclose(ops::box_cxcywh_to_xyxy(cxcywh), xyxy));
  EXPECT_TRUE(torch::allclose(ops::box_xyxy_to_cxcywh(xyxy), cxcywh));
  // Any leading shape.
  EXPECT_EQ(ops::box_cxcywh_to_xyxy(torch::rand({2, 3, 4})).sizes(), (std::vector<int64_t>{2, 3, 4}));
  EXPECT_TRUE(torch::allclose(ops::box_area(xyxy), torch::tensor({0.08, 2.0}, torch::kDouble)));
}

TEST(Boxes, IouAndGeneralizedIouOnHandComputedBoxes) {
  const auto a = torch::tensor({{0.0, 0.0, 2.0, 2.0}}, torch::kDouble);
  const auto b = torch::tensor({{1.0, 1.0, 3.0, 3.0},    // overlap 1, union 7, enclosing 9
                                {0.0, 0.0, 2.0, 2.0},    // identical
                                {3.0, 0.0, 4.0, 2.0},    // disjoint: union 6, enclosing 8
                                {0.5, 0.5, 1.5, 1.5}},   // inside: IoU 1/4, enclosing = a
                               torch::kDouble);
  const auto iou = ops::box_iou(a, b);
  const auto giou = ops::generalized_box_iou(a, b);
  EXPECT_TRUE(torch::allclose(iou, torch::tensor({{1.0 / 7, 1.0, 0.0, 0.25}}, torch::kDouble)));
  EXPECT_TRUE(torch::allclose(giou, torch::tensor({{1.0 / 7 - 2.0 / 9, 1.0, -2.0 / 8, 0.25}}, torch::kDouble)));
  EXPECT_LT(giou[0][2].item<double>(), 0.0);
  // Pairwise: [N, M].
  EXPECT_EQ(ops::generalized_box_iou(b, a).sizes(), (std::vector<int64_t>{4, 1}));
  EXPECT_TRUE(torch::allclose(ops::generalized_box_iou(b, a), giou.t()));
}

// Float16 boxes (anchors and proposals under autocast): areas past 65504 px^2 overflow float16, so
// IoUs are computed in float: 600x600 against its left half is 0.5, not NaN.
TEST(Boxes, HalfBoxesGetTheirIouInFloat) {
  const auto a = torch::tensor({{0.0, 0.0, 600.0, 600.0}}).to(torch::kHalf);
  const auto b = torch::tensor({{0.0, 0.0, 300.0, 600.0}, {700.0, 0.0, 900.0, 600.0}}).to(torch::kHalf);
  const auto iou = ops::box_iou(a, b);
  EXPECT_EQ(iou.scalar_type(), torch::kFloat);
  EXPECT_TRUE(torch::allclose(iou, torch::tensor({{0.5f, 0.0f}})));
  const auto giou = ops::generalized_box_iou(a, b);
  // Disjoint pair: union 360000 + 120000, enclosing 900 x 600: 0 - 60000 / 540000.
  EXPECT_TRUE(torch::allclose(giou, torch::tensor({{0.5f, -1.0f / 9}}))) << giou;
}

TEST(Boxes, GeneralizedIouGradientMatchesFiniteDifferences) {
  const auto b = torch::tensor({{0.2, 0.1, 0.9, 0.7}, {1.2, 1.0, 1.6, 1.9}}, torch::kDouble);
  const auto a = torch::tensor({{0.0, 0.0, 0.5, 0.6}, {0.3, 0.2, 1.4, 1.3}}, torch::kDouble);
  const auto pair = lowbit::testing::compare_gradients([&](const torch::Tensor& x) { return ops::generalized_box_iou(x, b); }, a);
  EXPECT_TRUE(torch::allclose(pair.analytic, pair.numeric, 1e-6, 1e-7)) << pair.analytic << pair.numeric;
  EXPECT_GT(pair.analytic.abs().sum().item<double>(), 0.0);
}

TEST(Boxes, MalformedBoxesAreRejected) {
  const auto good = torch::tensor({{0.0, 0.0, 1.0, 1.0}});
  const auto bad = torch::tensor({{0.0, 0.0, -1.0, 1.0}});
  EXPECT_NE(lowbit::testing::error_of([&] { ops::generalized_box_iou(good, bad, "my loss"); })
                .find("my loss: second boxes has a malformed box"),
            std::string::npos);
  EXPECT_NE(lowbit::testing::error_of([&] { ops::box_iou(torch::rand({2, 5}), good); }).find("[N, 4]"),
            std::string::npos);
}

TEST(Boxes, NmsKeepsByScoreAndDropsOverlapsAboveThreshold) {
  const auto boxes = torch::tensor({{0.0, 0.0, 10.0, 10.0},     // 0: score 0.8
                                    {1.0, 1.0, 11.0, 11.0},     // 1: 0.9, IoU with 0 = 81/119
                                    {20.0, 20.0, 30.0, 30.0},   // 2: 0.7, far away
                                    {0.0, 5.0, 10.0, 15.0}});   // 3: 0.95, IoU with 1 = 54/146, with 0 = 50/150
  const auto scores = torch::tensor({0.8, 0.9, 0.7, 0.95});
  // Threshold 0.5: 3 kept, 1 kept (IoU 1/3 <= 0.5), 0 dropped (IoU with 1 = 0.68), 2 kept.
  EXPECT_TRUE(torch::equal(ops::nms(boxes, scores, 0.5), torch::tensor({3, 1, 2}, torch::kLong)));
  // Threshold 0.3: 1 dropped too (54/146 > 0.3), and 0 (1/3 with 3).
  EXPECT_TRUE(torch::equal(ops::nms(boxes, scores, 0.3), torch::tensor({3, 2}, torch::kLong)));
  // Threshold 1/3: 1 dropped, 0 kept with an overlap exactly at the threshold (the CUDA kernel
  // suppresses IoU > threshold).
  EXPECT_TRUE(torch::equal(ops::nms(boxes, scores, 1.0 / 3), torch::tensor({3, 0, 2}, torch::kLong)));
  EXPECT_EQ(ops::nms(torch::zeros({0, 4}), torch::zeros({0}), 0.5).numel(), 0);
}
