// Q-DETR's DRD upper level (docs/methods/qdetr.md), checked against the spec's checklist.
#include <lowbit/modules/losses/drd.h>

#include "support/boxes.h"
#include "support/error_of.h"
#include "support/gradcheck.h"

#include <gtest/gtest.h>

#include <torch/torch.h>

using lowbit::losses::DrdLoss;
using lowbit::losses::DrdOptions;
using lowbit::losses::GtRule;
using lowbit::losses::TeacherMatching;
using lowbit::testing::boxes;
using lowbit::testing::error_of;

namespace {

std::vector<int64_t> as_vector(const torch::Tensor& t) {
  const auto c = t.to(torch::kLong).contiguous();
  return {c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel()};
}

std::vector<int64_t> kept(const torch::Tensor& student, const torch::Tensor& gt, const DrdOptions& options) {
  return as_vector(lowbit::losses::foreground_query_matching(student, student, gt, options).student);
}

// Two ground truths (cx, cy, w, h) and queries around them:
//   0 = GT 0 exactly (GIoU 1)          1 = GT 0 shifted by 0.08 (GIoU 0.43)
//   2 = GT 1 exactly                   3 = inside GT 0 (GIoU 0.25)
//   4 = GT 1 shifted by 0.02 (GIoU 0.82)  5 = far from both (GIoU < 0)
//   6 = one big box around both GTs (GIoU 1/16 with each)
const auto kGt = boxes({{0.3, 0.3, 0.2, 0.2}, {0.7, 0.7, 0.2, 0.2}});
const auto kQueries = boxes({{0.3, 0.3, 0.2, 0.2},
                             {0.38, 0.3, 0.2, 0.2},
                             {0.7, 0.7, 0.2, 0.2},
                             {0.25, 0.25, 0.1, 0.1},
                             {0.72, 0.7, 0.2, 0.2},
                             {0.1, 0.9, 0.05, 0.05},
                             {0.5, 0.5, 0.8, 0.8}});

}  // namespace

TEST(DrdMatching, TauZeroKeepsEveryQueryOverlappingSomeGt) {
  EXPECT_EQ(kept(kQueries, kGt, DrdOptions(0)), (std::vector<int64_t>{0, 1, 2, 3, 4, 6}));
}

TEST(DrdMatching, TauOneKeepsOnlyThePerGtBest) {
  EXPECT_EQ(kept(kQueries, kGt, DrdOptions(1)), (std::vector<int64_t>{0, 2}));
}

TEST(DrdMatching, TauScalesThePerGtBest) {
  // GT 0: best 1, so tau = 0.4 keeps GIoU >= 0.4 (queries 0, 1; not 3 at 0.25); GT 1: 2 and 4.
  EXPECT_EQ(kept(kQueries, kGt, DrdOptions(0.4)), (std::vector<int64_t>{0, 1, 2, 4}));
  EXPECT_EQ(kept(kQueries, kGt, DrdOptions(0.2)), (std::vector<int64_t>{0, 1, 2, 3, 4}));
}

TEST(DrdMatching, AllRuleNeedsEveryGt) {
  // Only the big query overlaps both ground truths.
  EXPECT_EQ(kept(kQueries, kGt, DrdOptions(0).gt_rule(GtRule::All)), (std::vector<int64_t>{6}));
  EXPECT_TRUE(kept(kQueries, kGt, DrdOptions(0.5).gt_rule(GtRule::All)).empty());
}

TEST(DrdMatching, NoGroundTruthKeepsNothing) {
  EXPECT_TRUE(kept(kQueries, torch::zeros({0, 4}, torch::kDouble), DrdOptions(0)).empty());
  EXPECT_TRUE(kept(kQueries, torch::zeros({0, 4}, torch::kDouble), DrdOptions(0).gt_rule(GtRule::All)).empty());
}

TEST(DrdMatching, TeacherPartnerMaximises2GiouMinus5L1) {
  // Student a = (0.5, 0.5, 0.2, 0.2): teacher 0 (same centre, 0.3 wide) has the larger GIoU
  // (0.444 vs 0.429) but 2·GIoU - 5·L1 = -0.11 against 0.46 for teacher 1 (shifted by 0.08).
  // Student b = (0.5, 0.5, 0.02, 0.02): teacher 2 is nearest in L1 (0.03) but disjoint
  // (GIoU -0.2, score -0.55); teacher 3 (0.06 wide, L1 0.08) scores -0.18.
  const auto students = boxes({{0.5, 0.5, 0.2, 0.2}, {0.5, 0.5, 0.02, 0.02}});
  const auto teachers = boxes({{0.5, 0.5, 0.3, 0.3}, {0.58, 0.5, 0.2, 0.2}, {0.5, 0.53, 0.02, 0.02}, {0.5, 0.5, 0.06, 0.06}});
  const auto pairs = lowbit::losses::foreground_query_matching(students, teachers, students, DrdOptions(0.5));
  EXPECT_EQ(as_vector(pairs.student), (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(as_vector(pairs.teacher), (std::vector<int64_t>{1, 3}));
  // Only GIoU (mu2 = 0) picks teacher 0 for a; only L1 (mu1 = 0) picks teacher 2 for b.
  const auto giou_only = lowbit::losses::foreground_query_matching(students, teachers, students, DrdOptions(0.5).l1_weight(0));
  EXPECT_EQ(as_vector(giou_only.teacher)[0], 0);
  const auto l1_only = lowbit::losses::foreground_query_matching(students, teachers, students, DrdOptions(0.5).giou_weight(0));
  EXPECT_EQ(as_vector(l1_only.teacher)[1], 2);
}

TEST(DrdMatching, HungarianMatchesOneToOne) {
  // Both students are closest to teacher 0; argmax shares it, Hungarian gives student 1 teacher 1
  // (2 + 0.31 = 2.31 beats 0.17 + 1.76).
  const auto students = boxes({{0.5, 0.5, 0.2, 0.2}, {0.51, 0.5, 0.2, 0.2}});
  const auto teachers = boxes({{0.5, 0.5, 0.2, 0.2}, {0.6, 0.5, 0.2, 0.2}});
  const auto gt = boxes({{0.5, 0.5, 0.2, 0.2}});
  const auto argmax = lowbit::losses::foreground_query_matching(students, teachers, gt, DrdOptions(0));
  EXPECT_EQ(as_vector(argmax.teacher), (std::vector<int64_t>{0, 0}));
  const auto one_to_one = lowbit::losses::foreground_query_matching(students, teachers, gt,
                                                                    DrdOptions(0).matching(TeacherMatching::Hungarian));
  EXPECT_EQ(as_vector(one_to_one.student), (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(as_vector(one_to_one.teacher), (std::vector<int64_t>{0, 1}));
  // More kept students than teachers: the unmatched one is dropped.
  const auto three = boxes({{0.5, 0.5, 0.2, 0.2}, {0.51, 0.5, 0.2, 0.2}, {0.49, 0.5, 0.2, 0.2}});
  const auto fewer = lowbit::losses::foreground_query_matching(three, teachers, gt, DrdOptions(0).matching(TeacherMatching::Hungarian));
  EXPECT_EQ(fewer.student.numel(), 2);
  EXPECT_EQ(as_vector(fewer.teacher), (std::vector<int64_t>{0, 1}));
}

namespace {

// One image: query 0 sits on the GT, query 1 far away; the teacher has the GT box at index 1.
struct Scene {
  torch::Tensor student_boxes = boxes({{0.3, 0.3, 0.2, 0.2}, {0.8, 0.8, 0.1, 0.1}}).unsqueeze(0);
  torch::Tensor teacher_boxes = boxes({{0.8, 0.2, 0.1, 0.1}, {0.3, 0.3, 0.2, 0.2}}).unsqueeze(0);
  std::vector<torch::Tensor> gt = {boxes({{0.3, 0.3, 0.2, 0.2}})};
};

}  // namespace

TEST(DrdLoss, IsTheUnsquaredDistanceAveragedOverPairsAndLayers) {
  Scene scene;
  // Layer 0: student query 0 (1, 1) vs teacher query 1 (4, 5): distance 5. Layer 1: distance 1.
  const auto student = torch::tensor({{{1.0, 1.0}, {9.0, 9.0}}, {{0.0, 0.0}, {7.0, 7.0}}}, torch::kDouble).unsqueeze(1);
  const auto teacher = torch::tensor({{{-3.0, 8.0}, {4.0, 5.0}}, {{5.0, 5.0}, {0.0, 1.0}}}, torch::kDouble).unsqueeze(1);
  DrdLoss loss(DrdOptions(0.5));
  EXPECT_DOUBLE_EQ(loss(student[0], teacher[0], scene.student_boxes, scene.teacher_boxes, scene.gt).item<double>(), 5.0);
  EXPECT_DOUBLE_EQ(loss(student, teacher, scene.student_boxes, scene.teacher_boxes, scene.gt).item<double>(), 3.0);
  DrdLoss weighted(DrdOptions(0.5).weight(0.5));
  EXPECT_DOUBLE_EQ(weighted(student, teacher, scene.student_boxes, scene.teacher_boxes, scene.gt).item<double>(), 1.5);
}

TEST(DrdLoss, AveragesOverThePairsOfTheWholeBatch) {
  // Image 0 contributes one pair (distance 5), image 1 two pairs (distances 1 and 3): mean 3.
  const auto sb = torch::stack({boxes({{0.3, 0.3, 0.2, 0.2}, {0.8, 0.8, 0.1, 0.1}}),
                                boxes({{0.3, 0.3, 0.2, 0.2}, {0.7, 0.7, 0.2, 0.2}})});
  const auto tb = sb.clone();
  const std::vector<torch::Tensor> gt = {boxes({{0.3, 0.3, 0.2, 0.2}}), boxes({{0.3, 0.3, 0.2, 0.2}, {0.7, 0.7, 0.2, 0.2}})};
  const auto student = torch::zeros({2, 2, 2}, torch::kDouble);
  const auto teacher = torch::tensor({{{3.0, 4.0}, {50.0, 0.0}}, {{0.0, 1.0}, {3.0, 0.0}}}, torch::kDouble);
  EXPECT_DOUBLE_EQ(lowbit::losses::drd_loss(student, teacher, sb, tb, gt, DrdOptions(0)).item<double>(), 3.0);
}

TEST(DrdLoss, ZeroWhenStudentAndTeacherCoincide) {
  torch::manual_seed(0);
  const auto centres = torch::rand({1, 6, 2}, torch::kDouble) * 0.6 + 0.2;
  const auto sizes = torch::rand({1, 6, 2}, torch::kDouble) * 0.2 + 0.05;
  const auto b = torch::cat({centres, sizes}, -1);
  const auto features = torch::randn({1, 6, 8}, torch::kDouble).requires_grad_(true);
  const std::vector<torch::Tensor> gt = {b[0].slice(0, 0, 3)};
  const auto value = lowbit::losses::drd_loss(features, features.detach().clone(), b, b, gt, DrdOptions(0));
  EXPECT_EQ(value.item<double>(), 0.0);
  value.backward();
  EXPECT_TRUE(torch::isfinite(features.grad()).all().item<bool>());
  EXPECT_EQ(features.grad().abs().sum().item<double>(), 0.0);
}

TEST(DrdLoss, EmptySelectionIsZeroNotNaN) {
  Scene scene;
  const auto student = torch::randn({1, 2, 3}, torch::kDouble).requires_grad_(true);
  const auto teacher = torch::randn({1, 2, 3}, torch::kDouble);
  for (const auto& gt : {std::vector<torch::Tensor>{boxes({{0.9, 0.1, 0.05, 0.05}})},  // overlaps no query
                         std::vector<torch::Tensor>{torch::zeros({0, 4}, torch::kDouble)}}) {
    const auto value = lowbit::losses::drd_loss(student, teacher, scene.student_boxes, scene.teacher_boxes, gt, DrdOptions(0));
    EXPECT_EQ(value.item<double>(), 0.0);
    student.mutable_grad() = torch::Tensor();
    value.backward();
    EXPECT_EQ(student.grad().abs().sum().item<double>(), 0.0);
  }
}

TEST(DrdLoss, GradientReachesOnlyTheStudentFeatures) {
  Scene scene;
  const auto student = torch::randn({1, 2, 3}, torch::kDouble).requires_grad_(true);
  const auto teacher = torch::randn({1, 2, 3}, torch::kDouble).requires_grad_(true);
  const auto student_boxes = scene.student_boxes.clone().requires_grad_(true);
  const auto teacher_boxes = scene.teacher_boxes.clone().requires_grad_(true);
  lowbit::losses::drd_loss(student, teacher, student_boxes, teacher_boxes, scene.gt, DrdOptions(0)).backward();
  ASSERT_TRUE(student.grad().defined());
  // d||s - t|| / ds = (s - t) / ||s - t|| on the kept query 0 (partner: teacher 1); 0 elsewhere.
  const auto direction = (student[0][0] - teacher[0][1]).detach();
  EXPECT_TRUE(torch::allclose(student.grad()[0][0], direction / direction.norm()));
  EXPECT_EQ(student.grad()[0][1].abs().sum().item<double>(), 0.0);
  EXPECT_FALSE(teacher.grad().defined());
  EXPECT_FALSE(student_boxes.grad().defined());
  EXPECT_FALSE(teacher_boxes.grad().defined());
}

TEST(DrdLoss, GradientMatchesFiniteDifferences) {
  torch::manual_seed(2);
  const auto centres = torch::rand({2, 8, 2}, torch::kDouble) * 0.6 + 0.2;
  const auto sizes = torch::rand({2, 8, 2}, torch::kDouble) * 0.3 + 0.05;
  const auto student_boxes = torch::cat({centres, sizes}, -1);
  const auto teacher_boxes = student_boxes + torch::randn({2, 8, 4}, torch::kDouble) * 0.01;
  const std::vector<torch::Tensor> gt = {student_boxes[0].slice(0, 0, 2) + 0.01, student_boxes[1].slice(0, 3, 4)};
  const auto teacher = torch::randn({2, 2, 8, 3}, torch::kDouble);
  const auto student = torch::randn({2, 2, 8, 3}, torch::kDouble);
  const DrdOptions options(0.3);
  ASSERT_GT(lowbit::losses::foreground_query_matching(student_boxes[0], teacher_boxes[0], gt[0], options).student.numel(), 1);
  const auto pair = lowbit::testing::compare_gradients(
      [&](const torch::Tensor& x) { return lowbit::losses::drd_loss(x, teacher, student_boxes, teacher_boxes, gt, options); },
      student);
  EXPECT_TRUE(torch::allclose(pair.analytic, pair.numeric, 1e-6, 1e-7));
  EXPECT_GT(pair.analytic.abs().sum().item<double>(), 0.0);
}

TEST(DrdLoss, OptimizerStepsPullTheStudentTowardsItsTeacher) {
  Scene scene;
  auto student = torch::zeros({1, 2, 4}, torch::kDouble).requires_grad_(true);
  const auto teacher = torch::tensor({{{1.0, 1.0, 1.0, 1.0}, {3.0, 0.0, 4.0, 0.0}}}, torch::kDouble);  // partner: 1
  const auto teacher_before = teacher.clone();
  torch::optim::SGD optimizer({student}, torch::optim::SGDOptions(0.2));
  std::vector<double> values;
  for (int step = 0; step < 4; ++step) {
    optimizer.zero_grad();
    const auto value = lowbit::losses::drd_loss(student, teacher, scene.student_boxes, scene.teacher_boxes, scene.gt,
                                                DrdOptions(0));
    value.backward();
    optimizer.step();
    values.push_back(value.item<double>());
  }
  EXPECT_DOUBLE_EQ(values.front(), 5.0);
  // The gradient is the unit direction: every step shortens the distance by lr = 0.2.
  for (size_t k = 1; k < values.size(); ++k) EXPECT_NEAR(values[k], values[k - 1] - 0.2, 1e-9) << k;
  EXPECT_TRUE(torch::equal(teacher, teacher_before));
}

TEST(DrdLoss, ReadsDecoderLayersAndBoxesFromTaps) {
  torch::manual_seed(3);
  Scene scene;
  const auto student = torch::randn({3, 1, 2, 4}), teacher = torch::randn({3, 1, 2, 4});
  lowbit::taps::TapRecord student_record, teacher_record;
  for (int64_t l = 0; l < 3; ++l) {
    const auto name = "transformer.decoder.layers." + std::to_string(l) + ".multihead_attn.attended";
    student_record.put(name, student[l]);
    teacher_record.put(name, teacher[l]);
  }
  student_record.put("pred_boxes", scene.student_boxes.to(torch::kFloat));
  teacher_record.put("pred_boxes", scene.teacher_boxes.to(torch::kFloat));
  student_record.put("transformer.encoder.layers.0.attn.q", torch::zeros({1}));  // not a decoder tap
  const auto sb = scene.student_boxes.to(torch::kFloat), tb = scene.teacher_boxes.to(torch::kFloat);

  DrdLoss all_layers(DrdOptions(0.5));
  EXPECT_TRUE(torch::allclose(all_layers->from_taps(student_record, teacher_record, scene.gt),
                              all_layers(student, teacher, sb, tb, scene.gt)));
  DrdLoss last(DrdOptions(0.5).layers({-1}));
  EXPECT_TRUE(torch::allclose(last->from_taps(student_record, teacher_record, scene.gt), last(student[2], teacher[2], sb, tb, scene.gt)));
  DrdLoss beyond(DrdOptions(0.5).layers({3}));
  EXPECT_NE(error_of([&] { beyond->from_taps(student_record, teacher_record, scene.gt); })
                .find("drd: layers holds 3 but the student recorded 3 decoder layers"),
            std::string::npos);
}

TEST(DrdLoss, BadOptionsFailClearly) {
  EXPECT_NE(error_of([] { DrdLoss(DrdOptions(1.5)); }).find("drd: tau must be in [0, 1], got 1.5"), std::string::npos);
  EXPECT_NE(error_of([] { DrdLoss(DrdOptions(-0.1)); }).find("drd: tau must be in [0, 1], got -0.1"), std::string::npos);
  EXPECT_NE(error_of([] { DrdLoss(DrdOptions(0.5).weight(-1)); }).find("drd: weight (lambda) must be >= 0, got -1"),
            std::string::npos);
  EXPECT_NE(error_of([] { DrdLoss(DrdOptions(0.5).l1_weight(-5)); }).find("l1_weight (mu2) must be >= 0"),
            std::string::npos);
  EXPECT_EQ(lowbit::losses::parse_gt_rule("all"), GtRule::All);
  EXPECT_EQ(lowbit::losses::parse_teacher_matching("hungarian"), TeacherMatching::Hungarian);
  EXPECT_NE(error_of([] { lowbit::losses::parse_gt_rule("anny"); }).find("unknown drd gt_rule 'anny' (did you mean 'any'?)"),
            std::string::npos);
}

TEST(DrdLoss, ShapeMismatchesNameBothInputs) {
  Scene scene;
  DrdLoss loss(DrdOptions(0.5));
  const auto student = torch::zeros({1, 2, 4}), teacher = torch::zeros({1, 2, 5});
  EXPECT_NE(error_of([&] { loss(student, teacher, scene.student_boxes, scene.teacher_boxes, scene.gt); })
                .find("drd: student_features [1, 2, 4] and teacher_features [1, 2, 5] must agree"),
            std::string::npos);
  EXPECT_NE(error_of([&] { loss(student, student, scene.student_boxes.slice(1, 0, 1), scene.teacher_boxes, scene.gt); })
                .find("drd: student_boxes must be [B, N, 4] = [1, 2, 4] to match student_features, got shape [1, 1, 4]"),
            std::string::npos);
  EXPECT_NE(error_of([&] { loss(student, student, scene.student_boxes, scene.teacher_boxes, std::vector<torch::Tensor>{}); })
                .find("drd: gt_boxes holds 0 images, the batch has 1"),
            std::string::npos);
  // From taps: the message names the taps.
  lowbit::taps::TapRecord s, t;
  s.put("decoder.layers.0.multihead_attn.attended", student);
  t.put("decoder.layers.0.multihead_attn.attended", teacher);
  s.put("pred_boxes", scene.student_boxes);
  t.put("pred_boxes", scene.teacher_boxes);
  EXPECT_NE(error_of([&] { loss->from_taps(s, t, scene.gt); })
                .find("student taps 'decoder.layers.0.multihead_attn.attended' [1, 2, 4] and teacher taps "
                      "'decoder.layers.0.multihead_attn.attended' [1, 2, 5]"),
            std::string::npos)
      << error_of([&] { loss->from_taps(s, t, scene.gt); });
  t.put("decoder.layers.1.multihead_attn.attended", teacher);
  EXPECT_NE(error_of([&] { loss->from_taps(s, t, scene.gt); }).find("give 1 decoder layers"), std::string::npos);
}
