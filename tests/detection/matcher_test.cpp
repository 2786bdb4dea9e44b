// DETR's Hungarian matcher against every assignment on small cases.
#include <lowbit/csrc/ops/boxes.h>
#include <lowbit/modules/detection/matcher.h>

#include <gtest/gtest.h>

#include <torch/torch.h>

#include <algorithm>
#include <limits>
#include <numeric>

using lowbit::detection::hungarian_match;
using lowbit::detection::MatcherCosts;
using lowbit::detection::MatchTargets;

namespace {

// C[q, g] = 5 |b_q - b_g|_1 - p_q(c_g) - 2 GIoU(b_q, b_g), written out per pair.
double pair_cost(const torch::Tensor& logits, const torch::Tensor& boxes, int64_t q, int64_t cls,
                 const torch::Tensor& box) {
  const double l1 = (boxes[q] - box).abs().sum().item<double>();
  const double p = logits[q].softmax(0)[cls].item<double>();
  namespace ops = lowbit::ops;
  const double giou =
      ops::generalized_box_iou(ops::box_cxcywh_to_xyxy(boxes[q].unsqueeze(0)), ops::box_cxcywh_to_xyxy(box.unsqueeze(0)))
          .item<double>();
  return 5 * l1 - p - 2 * giou;
}

// cost[q][g] for every pair, from pair_cost.
std::vector<std::vector<double>> cost_matrix(const torch::Tensor& logits, const torch::Tensor& boxes,
                                             const torch::Tensor& classes, const torch::Tensor& gt) {
  std::vector<std::vector<double>> cost(logits.size(0), std::vector<double>(classes.size(0)));
  for (int64_t q = 0; q < logits.size(0); ++q) {
    for (int64_t g = 0; g < classes.size(0); ++g) cost[q][g] = pair_cost(logits, boxes, q, classes[g].item<int64_t>(), gt[g]);
  }
  return cost;
}

// The smallest total cost over all injective maps of the targets into the queries (G <= Q).
double brute_force(const std::vector<std::vector<double>>& cost, size_t g) {
  std::vector<size_t> order(cost.size());
  std::iota(order.begin(), order.end(), 0);
  double best = std::numeric_limits<double>::infinity();
  do {  // every permutation; its first g entries are the queries of targets 0..g-1
    double total = 0;
    for (size_t j = 0; j < g; ++j) total += cost[order[j]][j];
    best = std::min(best, total);
  } while (std::next_permutation(order.begin(), order.end()));
  return best;
}

torch::Tensor random_boxes(int64_t n) {
  return torch::cat({torch::rand({n, 2}) * 0.6 + 0.2, torch::rand({n, 2}) * 0.3 + 0.05}, 1).to(torch::kDouble);
}

}  // namespace

TEST(HungarianMatcher, FindsTheCheapestAssignmentOfEveryImage) {
  torch::manual_seed(3);
  for (int trial = 0; trial < 5; ++trial) {
    const int64_t queries = 5, classes = 3;
    const std::vector<int64_t> sizes = {3, 0, 5, 1};
    const auto batch = static_cast<int64_t>(sizes.size());
    const auto logits = torch::randn({batch, queries, classes + 1}, torch::kDouble);
    const auto boxes = random_boxes(batch * queries).view({batch, queries, 4});
    MatchTargets targets;
    const int64_t total = std::accumulate(sizes.begin(), sizes.end(), int64_t{0});
    targets.classes = torch::randint(classes, {total}, torch::kLong);
    targets.boxes = random_boxes(total);
    targets.sizes = sizes;
    const auto matches = hungarian_match(logits, boxes, targets, MatcherCosts());
    ASSERT_EQ(matches.size(), sizes.size());
    int64_t offset = 0;
    for (int64_t b = 0; b < batch; ++b) {
      const int64_t g = sizes[b];
      const auto& [rows, cols] = matches[b];
      ASSERT_EQ(rows.numel(), std::min(queries, g));
      EXPECT_TRUE(torch::equal(rows, std::get<0>(rows.sort())));
      const auto classes_b = targets.classes.narrow(0, offset, g), gt_b = targets.boxes.narrow(0, offset, g);
      const auto cost = cost_matrix(logits[b], boxes[b], classes_b, gt_b);
      double total_cost = 0;
      for (int64_t k = 0; k < rows.numel(); ++k) total_cost += cost[rows[k].item<int64_t>()][cols[k].item<int64_t>()];
      if (g > 0) EXPECT_NEAR(total_cost, brute_force(cost, static_cast<size_t>(g)), 1e-9) << "image " << b;
      offset += g;
    }
  }
}

TEST(HungarianMatcher, PicksTheObviousPairs) {
  // Query 2 sits on target 0 with its class, query 0 on target 1.
  auto boxes = torch::tensor({{0.3, 0.3, 0.2, 0.2}, {0.9, 0.9, 0.1, 0.1}, {0.7, 0.6, 0.3, 0.2}}, torch::kDouble);
  auto logits = torch::zeros({3, 3}, torch::kDouble);
  MatchTargets targets;
  targets.boxes = torch::tensor({{0.7, 0.6, 0.3, 0.2}, {0.3, 0.3, 0.2, 0.2}}, torch::kDouble);
  targets.classes = torch::tensor({1, 0}, torch::kLong);
  targets.sizes = {2};
  const auto matches = hungarian_match(logits.unsqueeze(0), boxes.unsqueeze(0), targets, MatcherCosts());
  EXPECT_TRUE(torch::equal(matches[0].first, torch::tensor({0, 2}, torch::kLong)));
  EXPECT_TRUE(torch::equal(matches[0].second, torch::tensor({1, 0}, torch::kLong)));
}
