// DETR's PostProcess: the best real class per query, boxes in original pixels.
#include <lowbit/modules/detection/postprocess.h>

#include <gtest/gtest.h>

#include <torch/torch.h>

using lowbit::detection::postprocess;

TEST(DetrPostProcess, ScalesBoxesToTheOriginalSizeAndDropsNoObject) {
  // Query 0: no-object is the most likely, class 1 the best real one.
  const auto logits = torch::tensor({{{0.0, 1.0, 0.5, 3.0}, {2.0, 0.0, 0.0, 0.0}}});
  const auto boxes = torch::tensor({{{0.5, 0.5, 0.2, 0.4}, {0.25, 0.75, 0.5, 0.5}}});
  const auto orig_sizes = torch::tensor({{100, 200}}, torch::kLong);  // height 100, width 200
  const auto out = postprocess(logits, boxes, orig_sizes, {});
  const auto p = logits.softmax(-1);
  EXPECT_TRUE(torch::allclose(out.at("scores"), torch::stack({p[0][0][1], p[0][1][0]}).unsqueeze(0)));
  EXPECT_TRUE(torch::equal(out.at("labels"), torch::tensor({{1, 0}}, torch::kLong)));
  // (cx, cy, w, h) -> (x1, y1, x2, y2), x by 200, y by 100.
  const auto expected = torch::tensor({{{80.0, 30.0, 120.0, 70.0}, {0.0, 50.0, 100.0, 100.0}}});
  EXPECT_TRUE(torch::allclose(out.at("boxes"), expected.to(torch::kFloat), 1e-5, 1e-4));
}

TEST(DetrPostProcess, LabelClassesGiveContiguousLabels) {
  // Classes 0..3 (+ no-object 4); label 0 is class 3, label 1 is class 1 (category ids {3, 1}).
  const auto logits = torch::tensor({{{5.0, 1.0, 0.0, 2.0, 0.0}}});
  const auto out = postprocess(logits, torch::full({1, 1, 4}, 0.5), torch::tensor({{10, 10}}, torch::kLong),
                               torch::tensor({3, 1}, torch::kLong));
  EXPECT_EQ(out.at("labels").item<int64_t>(), 0);  // class 3 beats class 1; class 0 is no label's
  EXPECT_NEAR(out.at("scores").item<double>(), logits.softmax(-1)[0][0][3].item<double>(), 1e-6);
}
