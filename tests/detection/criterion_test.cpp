// DETR's SetCriterion: the three weighted losses by hand, num_boxes, aux names, gradients.
#include <lowbit/modules/detection/criterion.h>

#include "support/gradcheck.h"

#include <gtest/gtest.h>

#include <torch/torch.h>

#include <cmath>
#include <map>

using lowbit::detection::MatchTargets;
using lowbit::detection::NamedLosses;
using lowbit::detection::SetCriterion;
using lowbit::detection::SetCriterionOptions;

namespace {

std::map<std::string, double> values(const NamedLosses& losses) {
  std::map<std::string, double> out;
  for (const auto& [name, value] : losses) out[name] = value.item<double>();
  return out;
}

// One image, one ground-truth box (0.5, 0.5, 0.4, 0.4) of class 1; query 0 sits 0.1 to its right,
// query 1 far away. K = 2 classes.
struct OneBox {
  torch::Tensor logits = torch::tensor({{{0.5, 1.5, -0.5}, {0.0, -1.0, 2.0}}}, torch::kDouble);
  torch::Tensor boxes = torch::tensor({{{0.6, 0.5, 0.4, 0.4}, {0.1, 0.1, 0.1, 0.1}}}, torch::kDouble);
  MatchTargets targets{torch::tensor({1}, torch::kLong), torch::tensor({{0.5, 0.5, 0.4, 0.4}}, torch::kDouble), {1}};
};

}  // namespace

TEST(SetCriterion, LossesOfOneBoxByHand) {
  OneBox c;
  SetCriterion criterion(SetCriterionOptions(2));
  const auto losses = values(criterion(c.logits, c.boxes, {}, {}, c.targets));
  // CE: query 0 -> class 1 (weight 1), query 1 -> no-object (weight eos_coef 0.1), weighted mean.
  const auto log_p = c.logits[0].log_softmax(-1);
  const double nll0 = -log_p[0][1].item<double>(), nll1 = -log_p[1][2].item<double>();
  EXPECT_NEAR(losses.at("loss_ce"), (1.0 * nll0 + 0.1 * nll1) / 1.1, 1e-12);
  // L1: |0.6 - 0.5| = 0.1, times 5, over num_boxes 1.
  EXPECT_NEAR(losses.at("loss_bbox"), 0.5, 1e-12);
  // GIoU: [0.3, 0.7]^2 vs [0.4, 0.8] x [0.3, 0.7]: I = 0.12, U = 0.2 = enclosing, GIoU = 0.6; 2 (1 - 0.6).
  EXPECT_NEAR(losses.at("loss_giou"), 0.8, 1e-12);
  EXPECT_EQ(losses.size(), 3u);
}

TEST(SetCriterion, NormalisesByTheBatchsBoxCount) {
  // Two images: 2 boxes and none. Every matched query is off by 0.05 in cx: L1 = 2 x 0.05, over 2.
  const auto gt = torch::tensor({{0.3, 0.3, 0.2, 0.2}, {0.7, 0.7, 0.2, 0.2}}, torch::kDouble);
  auto boxes = torch::tensor({{0.35, 0.3, 0.2, 0.2}, {0.75, 0.7, 0.2, 0.2}, {0.1, 0.9, 0.05, 0.05}}, torch::kDouble);
  boxes = torch::stack({boxes, boxes});
  const auto logits = torch::zeros({2, 3, 4}, torch::kDouble);
  SetCriterion criterion(SetCriterionOptions(3));
  const auto losses = values(criterion(logits, boxes, {}, {}, {torch::tensor({0, 2}, torch::kLong), gt, {2, 0}}));
  EXPECT_NEAR(losses.at("loss_bbox"), 5 * (0.05 + 0.05) / 2, 1e-12);
  // No ground truth at all: num_boxes is clamped to 1, the box losses are 0, CE sees only no-object.
  MatchTargets none{torch::zeros({0}, torch::kLong), torch::zeros({0, 4}, torch::kDouble), {0, 0}};
  const auto empty = values(criterion(logits, boxes, {}, {}, none));
  EXPECT_EQ(empty.at("loss_bbox"), 0.0);
  EXPECT_EQ(empty.at("loss_giou"), 0.0);
  EXPECT_NEAR(empty.at("loss_ce"), std::log(4.0), 1e-12);  // uniform over K + 1 = 4
}

TEST(SetCriterion, AuxiliaryLossesCarryTheOfficialSuffixes) {
  OneBox c;
  const auto aux_logits = torch::stack({c.logits, c.logits});
  const auto aux_boxes = torch::stack({c.boxes, c.boxes});
  SetCriterion criterion(SetCriterionOptions(2));
  std::vector<std::string> names;
  for (const auto& entry : criterion(c.logits, c.boxes, aux_logits, aux_boxes, c.targets)) names.push_back(entry.first);
  EXPECT_EQ(names, (std::vector<std::string>{"loss_ce", "loss_bbox", "loss_giou", "loss_ce_0", "loss_bbox_0",
                                             "loss_giou_0", "loss_ce_1", "loss_bbox_1", "loss_giou_1"}));
  SetCriterion without_aux(SetCriterionOptions(2).aux_loss(false));
  EXPECT_EQ(without_aux(c.logits, c.boxes, aux_logits, aux_boxes, c.targets).size(), 3u);
}

TEST(SetCriterion, WeightsScaleTheirLosses) {
  OneBox c;
  SetCriterion criterion(SetCriterionOptions(2).ce_loss_coef(2).bbox_loss_coef(1).giou_loss_coef(3).eos_coef(0.5));
  const auto losses = values(criterion(c.logits, c.boxes, {}, {}, c.targets));
  const auto log_p = c.logits[0].log_softmax(-1);
  EXPECT_NEAR(losses.at("loss_ce"), 2 * (-log_p[0][1].item<double>() - 0.5 * log_p[1][2].item<double>()) / 1.5, 1e-12);
  EXPECT_NEAR(losses.at("loss_bbox"), 0.1, 1e-12);
  EXPECT_NEAR(losses.at("loss_giou"), 1.2, 1e-12);
}

TEST(SetCriterion, GradientsOfTheBoxAndClassLossesMatchFiniteDifferences) {
  OneBox c;
  SetCriterion criterion(SetCriterionOptions(2));
  const auto total = [&](const torch::Tensor& logits, const torch::Tensor& boxes) {
    torch::Tensor sum = torch::zeros({}, torch::kDouble);
    for (const auto& entry : criterion(logits, boxes, {}, {}, c.targets)) sum = sum + entry.second;
    return sum;
  };
  // Boxes moved off the degenerate points of |.| and of the enclosing box.
  const auto boxes = torch::tensor({{{0.62, 0.47, 0.35, 0.43}, {0.1, 0.1, 0.1, 0.1}}}, torch::kDouble);
  const auto box_grads = lowbit::testing::compare_gradients([&](const torch::Tensor& b) { return total(c.logits, b); }, boxes);
  EXPECT_TRUE(torch::allclose(box_grads.analytic, box_grads.numeric, 1e-6, 1e-8));
  EXPECT_GT(box_grads.analytic.abs().sum().item<double>(), 0);
  const auto class_grads = lowbit::testing::compare_gradients([&](const torch::Tensor& l) { return total(l, boxes); }, c.logits);
  EXPECT_TRUE(torch::allclose(class_grads.analytic, class_grads.numeric, 1e-6, 1e-8));
}
