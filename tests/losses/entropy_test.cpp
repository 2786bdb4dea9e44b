// IDa-Det's entropy distillation (docs/methods/idadet.md), checked against the spec's checklist.
#include <lowbit/modules/losses/entropy.h>

#include "support/boxes.h"
#include "support/error_of.h"
#include "support/gradcheck.h"

#include <gtest/gtest.h>

#include <torch/torch.h>

#include <cmath>

using lowbit::losses::EntropyDistillation;
using lowbit::losses::EntropyDistillationOptions;
using lowbit::losses::IdaGeometry;
using lowbit::testing::error_of;

namespace {

// The entropy tests work in float, as detector proposals come.
torch::Tensor float_boxes(const std::vector<std::array<double, 4>>& rows) {
  return lowbit::testing::boxes(rows, torch::kFloat);
}

// Σ_c |d^T_c - d^S_c|, d_c = mean² / unbiased var of the softmax over the cells of the patch
// rows [r1, r2) x columns [c1, c2) of maps [C, H, W]: written out with plain loops.
double reference_sum(const torch::Tensor& teacher, const torch::Tensor& student, int64_t r1, int64_t r2, int64_t c1,
                     int64_t c2) {
  const auto information = [&](const torch::Tensor& map, int64_t c) {
    const auto values = map.to(torch::kDouble);
    const auto a = values.accessor<double, 3>();
    std::vector<double> e;
    double total = 0;
    for (int64_t r = r1; r < r2; ++r) {
      for (int64_t k = c1; k < c2; ++k) {
        e.push_back(std::exp(a[c][r][k]));
        total += e.back();
      }
    }
    double mean = 0;
    for (auto& v : e) mean += (v /= total) / e.size();
    double var = 0;
    for (const auto v : e) var += (v - mean) * (v - mean) / (e.size() - 1);
    return mean * mean / var;
  };
  double sum = 0;
  for (int64_t c = 0; c < teacher.size(0); ++c) sum += std::abs(information(teacher, c) - information(student, c));
  return sum;
}

// Five disjoint squares on the diagonal of a 16 x 16 map (square, so both geometries see the
// same cells): [0,3), [3,6), [6,9), [9,12), [12,16).
const std::vector<std::array<int64_t, 2>> kSquares = {{0, 3}, {3, 6}, {6, 9}, {9, 12}, {12, 16}};

torch::Tensor diagonal_boxes() {
  std::vector<std::array<double, 4>> list;
  for (const auto& [a, b] : kSquares) list.push_back({double(a), double(a), double(b), double(b)});
  return float_boxes(list);
}

const auto kSize16 = torch::tensor({{16.0, 16.0}});

// A student map that differs from the teacher's inside the squares listed, by `scale[i]`.
torch::Tensor perturbed(const torch::Tensor& teacher, const std::vector<int>& squares, const std::vector<double>& scale) {
  auto student = teacher.clone();
  for (size_t k = 0; k < squares.size(); ++k) {
    const auto [a, b] = kSquares[squares[k]];
    student.slice(1, a, b).slice(2, a, b).add_(torch::randn({teacher.size(0), b - a, b - a}, teacher.options()) * scale[k]);
  }
  return student;
}

torch::Tensor squares_mask(const std::vector<int>& squares) {
  auto mask = torch::zeros({1, 16, 16});
  for (const int s : squares) mask[0].slice(0, kSquares[s][0], kSquares[s][1]).slice(1, kSquares[s][0], kSquares[s][1]).fill_(1);
  return mask;
}

torch::Tensor bands_mask(const std::vector<int>& squares) {
  auto mask = torch::zeros({1, 16, 16});
  for (const int s : squares) mask[0].slice(0, kSquares[s][0], kSquares[s][1]).fill_(1);
  return mask;
}

}  // namespace

TEST(IdaSelection, PairsConfidentProposalsAfterNmsTeacherFirst) {
  // (x1, y1, x2, y2, score). Student: 0.85 is not > 0.85; the 0.9 box overlaps the 0.95 one
  // with IoU 0.11 > 0.1 and goes. Teacher: both kept (IoU 0.05).
  const auto student = torch::tensor({{0.0, 0.0, 10.0, 10.0, 0.95},
                                      {8.0, 0.0, 18.0, 10.0, 0.90},
                                      {30.0, 30.0, 40.0, 40.0, 0.85},
                                      {50.0, 50.0, 60.0, 60.0, 0.99}}, torch::kFloat);
  const auto teacher = torch::tensor({{0.0, 0.0, 10.0, 10.0, 0.86}, {9.0, 0.0, 19.0, 10.0, 0.97}}, torch::kFloat);
  const auto paired = lowbit::losses::ida_pair_boxes(student, teacher, 0.85, 0.1);
  const auto expected = torch::tensor({{9.0, 0.0, 19.0, 10.0},    // teacher, by score
                                       {0.0, 0.0, 10.0, 10.0},
                                       {50.0, 50.0, 60.0, 60.0},  // student, by score
                                       {0.0, 0.0, 10.0, 10.0}}, torch::kFloat);
  EXPECT_TRUE(torch::equal(paired, expected)) << paired;
}

TEST(IdaSelection, KeepsRound06NLargestDiscrepancies) {
  torch::manual_seed(0);
  const auto teacher = torch::randn({1, 3, 16, 16});
  // Squares 1, 3, 4 differ: N = 5 -> round(3.0) = 3 kept, exactly those.
  const auto student = perturbed(teacher[0], {1, 3, 4}, {0.5, 1.0, 2.0}).unsqueeze(0);
  for (const auto geometry : {IdaGeometry::Official, IdaGeometry::Fixed}) {
    const auto eps = lowbit::losses::ida_discrepancy(teacher[0], student[0], diagonal_boxes(), {16, 16}, geometry);
    EXPECT_EQ(eps[0].item<double>(), 0.0);
    EXPECT_EQ(eps[2].item<double>(), 0.0);
    EXPECT_GT(eps.index_select(0, torch::tensor({1, 3, 4})).min().item<double>(), 0.0);
  }
  const auto official = lowbit::losses::ida_mask(teacher, student, {diagonal_boxes()}, kSize16, 0.6, IdaGeometry::Official);
  EXPECT_TRUE(torch::equal(official, bands_mask({1, 3, 4})));
  const auto fixed = lowbit::losses::ida_mask(teacher, student, {diagonal_boxes()}, kSize16, 0.6, IdaGeometry::Fixed);
  EXPECT_TRUE(torch::equal(fixed, squares_mask({1, 3, 4})));
}

TEST(IdaSelection, TheKeptBoxesAreTheLargestByTheReferenceDiscrepancy) {
  torch::manual_seed(1);
  const auto teacher = torch::randn({1, 4, 16, 16}, torch::kDouble);
  const auto student = perturbed(teacher[0], {0, 1, 2, 3, 4}, {0.3, 1.5, 0.8, 0.1, 1.0}).unsqueeze(0);
  // A square patch gives official eps = Σ / ph · pw = Σ and fixed eps = Σ / ph²: the two rank the
  // squares (of sides 3, 3, 3, 3, 4) differently.
  std::vector<std::pair<double, int>> by_sum, by_mean;
  for (int i = 0; i < 5; ++i) {
    const auto [a, b] = kSquares[i];
    const double sum = reference_sum(teacher[0], student[0], a, b, a, b);
    by_sum.push_back({sum, i});
    by_mean.push_back({sum / ((b - a) * (b - a)), i});
  }
  std::sort(by_sum.rbegin(), by_sum.rend());
  std::sort(by_mean.rbegin(), by_mean.rend());
  const auto official = lowbit::losses::ida_discrepancy(teacher[0], student[0], diagonal_boxes(), {16, 16}, IdaGeometry::Official);
  const auto fixed = lowbit::losses::ida_discrepancy(teacher[0], student[0], diagonal_boxes(), {16, 16}, IdaGeometry::Fixed);
  for (int k = 0; k < 5; ++k) {
    EXPECT_NEAR(official[by_sum[k].second].item<double>(), by_sum[k].first, 1e-9 * by_sum[k].first);
    EXPECT_NEAR(fixed[by_mean[k].second].item<double>(), by_mean[k].first, 1e-9 * by_mean[k].first);
  }
  const auto top3 = [](const std::vector<std::pair<double, int>>& ranked) {
    return std::vector<int>{ranked[0].second, ranked[1].second, ranked[2].second};
  };
  EXPECT_TRUE(torch::equal(
      lowbit::losses::ida_mask(teacher, student, {diagonal_boxes()}, kSize16, 0.6, IdaGeometry::Official).to(torch::kFloat),
      bands_mask(top3(by_sum))));
  EXPECT_TRUE(torch::equal(
      lowbit::losses::ida_mask(teacher, student, {diagonal_boxes()}, kSize16, 0.6, IdaGeometry::Fixed).to(torch::kFloat),
      squares_mask(top3(by_mean))));
  // The scales were picked so that the two rankings differ.
  EXPECT_NE(top3(by_sum), top3(by_mean));
}

TEST(IdaSelection, OfficialGeometryTransposesTheBoxAndWeighsByPwOverPh) {
  torch::manual_seed(2);
  const auto teacher = torch::randn({3, 16, 16}), student = torch::randn({3, 16, 16});
  const auto box = float_boxes({{2, 4, 6, 12}});  // x in [2, 6), y in [4, 12)
  // official: rows from x (ph = 4), columns from y (pw = 8): Σ / 4 · 8.
  const double official = reference_sum(teacher, student, 2, 6, 4, 12) / 4 * 8;
  // fixed: rows from y (ph = 8), columns from x (pw = 4): Σ / 32.
  const double fixed = reference_sum(teacher, student, 4, 12, 2, 6) / 32;
  EXPECT_NEAR(lowbit::losses::ida_discrepancy(teacher, student, box, {16, 16}, IdaGeometry::Official).item<double>(),
              official, 1e-4 * official);
  EXPECT_NEAR(lowbit::losses::ida_discrepancy(teacher, student, box, {16, 16}, IdaGeometry::Fixed).item<double>(), fixed,
              1e-4 * fixed);
}

TEST(IdaSelection, PatchesOfOneRowOrColumnHaveZeroDiscrepancy) {
  torch::manual_seed(3);
  const auto teacher = torch::randn({3, 16, 16}), student = torch::randn({3, 16, 16});
  // (2, 2, 6, 3): official rows 2..6, columns 2..3 (pw = 1); fixed rows 2..3 (ph = 1).
  // (5, 5, 6, 9): official ph = 1; fixed pw = 1. (4, 4, 6, 6): 2 x 2, computed.
  const auto list = float_boxes({{2, 2, 6, 3}, {5, 5, 6, 9}, {4, 4, 6, 6}});
  for (const auto geometry : {IdaGeometry::Official, IdaGeometry::Fixed}) {
    const auto eps = lowbit::losses::ida_discrepancy(teacher, student, list, {16, 16}, geometry);
    EXPECT_EQ(eps[0].item<double>(), 0.0);
    EXPECT_EQ(eps[1].item<double>(), 0.0);
    EXPECT_GT(eps[2].item<double>(), 0.0);
  }
}

TEST(IdaSelection, IdenticalFeaturesGiveZeroDiscrepancy) {
  torch::manual_seed(4);
  const auto map = torch::randn({8, 20, 24});
  const auto corners = torch::rand({12, 2}) * 60;
  const auto list = torch::cat({corners, corners + torch::rand({12, 2}) * 40}, 1);
  for (const auto geometry : {IdaGeometry::Official, IdaGeometry::Fixed}) {
    const auto eps = lowbit::losses::ida_discrepancy(map, map.clone(), list, {100, 80}, geometry);
    EXPECT_EQ(eps.abs().sum().item<double>(), 0.0);
  }
}

TEST(IdaSelection, ConstantPatchesStayFinite) {
  torch::manual_seed(5);
  auto teacher = torch::randn({2, 8, 8});
  teacher.slice(1, 2, 6).slice(2, 2, 6).fill_(0.7);  // var of its softmax is 0
  auto student = torch::randn({2, 8, 8});
  const auto box = float_boxes({{2, 2, 6, 6}});
  const auto eps = lowbit::losses::ida_discrepancy(teacher, student, box, {8, 8}, IdaGeometry::Official);
  EXPECT_TRUE(std::isfinite(eps.item<double>()));
  EXPECT_GT(eps.item<double>(), 0.0);
  // Both constant (even at different levels): the softmaxes coincide, eps = 0, not NaN.
  student.slice(1, 2, 6).slice(2, 2, 6).fill_(-3.0);
  EXPECT_EQ(lowbit::losses::ida_discrepancy(teacher, student, box, {8, 8}, IdaGeometry::Official).item<double>(), 0.0);
}

TEST(IdaSelection, OfficialMaskMarksRowBandsFixedMarksTheRectangle) {
  // The spec's example: a box mapped to (x1, y1, x2, y2) = (2, 5, 4, 6) on an 8 x 8 map.
  const auto maps = torch::randn({1, 2, 8, 8});
  const auto box = float_boxes({{2, 5, 4, 6}});
  const auto size = torch::tensor({{8, 8}});
  auto official = torch::zeros({1, 8, 8});
  official[0].slice(0, 2, 4).fill_(1);  // rows 2-3 (from x)
  official[0].slice(0, 5, 6).fill_(1);  // row 5 (from y), all columns
  EXPECT_TRUE(torch::equal(lowbit::losses::ida_mask(maps, maps + 1, {box}, size, 0.6, IdaGeometry::Official), official));
  auto fixed = torch::zeros({1, 8, 8});
  fixed[0].slice(0, 5, 6).slice(1, 2, 4).fill_(1);  // row 5, columns 2-3
  EXPECT_TRUE(torch::equal(lowbit::losses::ida_mask(maps, maps + 1, {box}, size, 0.6, IdaGeometry::Fixed), fixed));
}

TEST(IdaSelection, OfficialGeometryNormalisesXByTheImageWidth) {
  // Image 8 high, 16 wide, map 8 x 8; box x in [8, 16), y in [0, 2).
  const auto maps = torch::randn({1, 2, 8, 8});
  const auto box = float_boxes({{8, 0, 16, 2}});
  const auto size = torch::tensor({{8, 16}});
  auto official = torch::zeros({1, 8, 8});
  official[0].slice(0, 4, 8).fill_(1);  // x / 16 * 8 -> rows 4..8
  official[0].slice(0, 0, 2).fill_(1);  // y / 8 * 8 -> 0..2, used as rows
  EXPECT_TRUE(torch::equal(lowbit::losses::ida_mask(maps, maps, {box}, size, 0.6, IdaGeometry::Official), official));
  auto fixed = torch::zeros({1, 8, 8});
  fixed[0].slice(0, 0, 2).slice(1, 4, 8).fill_(1);
  EXPECT_TRUE(torch::equal(lowbit::losses::ida_mask(maps, maps, {box}, size, 0.6, IdaGeometry::Fixed), fixed));
}

TEST(IdaSelection, KeptCountRoundsHalfToEvenAsPython) {
  torch::manual_seed(6);
  const auto teacher = torch::randn({1, 2, 16, 16});
  const auto student = perturbed(teacher[0], {0, 1, 2, 3, 4}, {0.5, 1.0, 1.5, 2.0, 2.5}).unsqueeze(0);
  const auto painted = [&](const torch::Tensor& list, double proportion) {
    const auto mask = lowbit::losses::ida_mask(teacher, student, {list}, kSize16, proportion, IdaGeometry::Fixed);
    int count = 0;
    for (const auto& [a, b] : kSquares) count += mask[0][a][a].item<float>() > 0;
    return count;
  };
  const auto all = diagonal_boxes();
  EXPECT_EQ(painted(all, 0.6), 3);                   // 3.0
  EXPECT_EQ(painted(all, 0.5), 2);                   // 2.5 -> 2
  EXPECT_EQ(painted(all.slice(0, 0, 3), 0.5), 2);    // 1.5 -> 2
  EXPECT_EQ(painted(all.slice(0, 0, 1), 0.5), 0);    // 0.5 -> 0
  EXPECT_EQ(painted(all.slice(0, 0, 1), 0.6), 1);    // 0.6 -> 1
  EXPECT_EQ(painted(all.slice(0, 0, 0), 0.6), 0);
}

TEST(EntropyLoss, WithUnitSigmaAndFullMaskIsMeanOfTwiceTheSquaredError) {
  torch::manual_seed(7);
  const auto teacher = torch::randn({2, 3, 4, 5}), adapted = torch::randn({2, 3, 4, 5});
  const auto sigma = torch::ones({1, 1, 1, 1});
  const auto expected = (2 * (teacher - adapted).square()).mean();
  EXPECT_TRUE(torch::allclose(lowbit::losses::entropy_loss(teacher, adapted, torch::ones({2, 4, 5}), sigma), expected));
  EXPECT_TRUE(torch::allclose(lowbit::losses::entropy_loss(teacher, adapted, torch::ones({2, 3, 4, 5}), sigma), expected));
}

TEST(EntropyLoss, HandComputedValueWithTheUnmaskedLogTerm) {
  // C = 2, one row of 2 cells; the mask keeps cell 0: Σ M (T - A)² = 1 + 9, Σ M = 2 (both
  // channels); numel = 4. sigma = 1.5: [(1 + 1/2.25) · 10 + 1e-3 · log(2.25) · 4] / 2.
  const auto teacher = torch::tensor({1.0, 2.0, 3.0, 4.0}, torch::kDouble).view({1, 2, 1, 2});
  const auto adapted = torch::zeros({1, 2, 1, 2}, torch::kDouble);
  const auto sigma = torch::full({1, 1, 1, 1}, 1.5, torch::kDouble);
  const auto mask = torch::tensor({1.0, 0.0}, torch::kDouble).view({1, 1, 2});
  const double log_term = 1e-3 * std::log(2.25) * 4;
  EXPECT_NEAR(lowbit::losses::entropy_loss(teacher, adapted, mask, sigma).item<double>(),
              ((1 + 1 / 2.25) * 10 + log_term) / 2, 1e-12);
  // An empty mask: the normaliser is max(1, 0) = 1 and only the log term remains.
  EXPECT_NEAR(lowbit::losses::entropy_loss(teacher, adapted, torch::zeros({1, 1, 2}, torch::kDouble), sigma).item<double>(),
              log_term, 1e-12);
}

TEST(EntropyLoss, SigmaGradientMatchesTheFormulaAndFiniteDifferences) {
  torch::manual_seed(8);
  const auto teacher = torch::randn({2, 3, 4, 4}, torch::kDouble), adapted = torch::randn({2, 3, 4, 4}, torch::kDouble);
  const auto mask = (torch::rand({2, 4, 4}) > 0.5).to(torch::kDouble);
  const auto sigma = torch::full({1, 1, 1, 1}, 0.7, torch::kDouble).requires_grad_(true);
  lowbit::losses::entropy_loss(teacher, adapted, mask, sigma).backward();
  const double s = 0.7, masked_sum = (mask.unsqueeze(1) * (teacher - adapted).square()).sum().item<double>();
  const double count = 3 * mask.sum().item<double>(), numel = teacher.numel();
  const double formula = (-2 * std::pow(s, -3) * masked_sum + 2e-3 * numel / s) / count;
  EXPECT_NEAR(sigma.grad().item<double>(), formula, 1e-9 * std::abs(formula));
  const auto numeric = lowbit::testing::numerical_gradient(
      [&](const torch::Tensor& x) { return lowbit::losses::entropy_loss(teacher, adapted, mask, x); }, sigma);
  EXPECT_NEAR(numeric.item<double>(), formula, 1e-6 * std::abs(formula));
  // And with respect to the adapted student map.
  const auto on_map = lowbit::testing::compare_gradients(
      [&](const torch::Tensor& x) { return lowbit::losses::entropy_loss(teacher, x, mask, sigma.detach()); }, adapted);
  EXPECT_TRUE(torch::allclose(on_map.analytic, on_map.numeric, 1e-6, 1e-8));
}

TEST(EntropyDistillation, ParametersUseTheOfficialNamesAndInit) {
  torch::manual_seed(9);
  EntropyDistillation distill;
  const auto params = distill->named_parameters();
  EXPECT_EQ(params.size(), 1u + 5 * 2);
  EXPECT_EQ(params["sigma"].sizes(), (std::vector<int64_t>{1, 1, 1, 1}));
  EXPECT_FLOAT_EQ(params["sigma"].item<float>(), 1.000001f);
  for (int l = 0; l < 5; ++l) {
    const auto weight = params["neck_adapt." + std::to_string(l) + ".0.weight"];
    EXPECT_EQ(weight.sizes(), (std::vector<int64_t>{256, 256, 3, 3}));
    EXPECT_LE(weight.abs().max().item<double>(), 2e-4);
    // N(0, 1).fmod(2) · 1e-4 has std 0.866e-4 (the tails beyond ±2 wrap towards 0).
    EXPECT_NEAR(weight.std().item<double>(), 0.866e-4, 0.02e-4);
    EXPECT_EQ(params["neck_adapt." + std::to_string(l) + ".0.bias"].sizes(), (std::vector<int64_t>{256}));
  }
  EXPECT_EQ(EntropyDistillation(EntropyDistillationOptions().adapt(false))->parameters().size(), 1u);
}

namespace {

struct Batch {
  std::vector<torch::Tensor> student_maps, teacher_maps, student_proposals, teacher_proposals;
  torch::Tensor image_sizes;
};

// Two images of 64 x 48 (h x w), two levels of 4 channels (16 x 12 and 8 x 6), proposals that
// survive the score threshold.
Batch small_batch() {
  Batch batch;
  for (const int64_t side : {16, 8}) {
    batch.teacher_maps.push_back(torch::randn({2, 4, side, side * 3 / 4}));
    batch.student_maps.push_back(torch::randn({2, 4, side, side * 3 / 4}));
  }
  for (int b = 0; b < 2; ++b) {
    for (auto* list : {&batch.student_proposals, &batch.teacher_proposals}) {
      const auto corners = torch::rand({6, 2}) * torch::tensor({30.0, 40.0});
      const auto sizes = torch::rand({6, 2}) * 12 + 8;
      list->push_back(torch::cat({corners, corners + sizes, torch::rand({6, 1}) * 0.1 + 0.88}, 1));
    }
  }
  batch.image_sizes = torch::tensor({{64.0, 48.0}, {64.0, 48.0}});
  return batch;
}

torch::Tensor distill_batch(EntropyDistillation& distill, const Batch& batch) {
  return distill(batch.student_maps, batch.teacher_maps, batch.student_proposals, batch.teacher_proposals, batch.image_sizes);
}

}  // namespace

TEST(EntropyDistillation, ForwardIsWeightTimesTheMeanOfTheLevelLosses) {
  torch::manual_seed(10);
  const auto batch = small_batch();
  for (const auto geometry : {IdaGeometry::Official, IdaGeometry::Fixed}) {
    EntropyDistillation distill(EntropyDistillationOptions().levels(2).channels(4).geometry(geometry));
    std::vector<torch::Tensor> pairs;
    for (int b = 0; b < 2; ++b) {
      pairs.push_back(lowbit::losses::ida_pair_boxes(batch.student_proposals[b], batch.teacher_proposals[b], 0.85, 0.1));
    }
    ASSERT_GT(pairs[0].size(0), 2);
    torch::Tensor expected = torch::zeros({});
    for (int l = 0; l < 2; ++l) {
      const auto mask = lowbit::losses::ida_mask(batch.teacher_maps[l], batch.student_maps[l], pairs, batch.image_sizes,
                                                 0.6, geometry);
      EXPECT_GT(mask.sum().item<double>(), 0.0);
      const auto adapted = distill->neck_adapt[l]->as<torch::nn::Sequential>()->forward(batch.student_maps[l]);
      expected = expected + lowbit::losses::entropy_loss(batch.teacher_maps[l], adapted, mask, distill->sigma);
    }
    EXPECT_TRUE(torch::allclose(distill_batch(distill, batch), 0.5 * expected / 2));
  }
}

TEST(EntropyDistillation, OptimizerStepsTrainSigmaAdaptersAndStudent) {
  torch::manual_seed(11);
  auto batch = small_batch();
  for (auto& map : batch.student_maps) map.requires_grad_(true);
  for (auto& map : batch.teacher_maps) map.requires_grad_(true);
  EntropyDistillation distill(EntropyDistillationOptions().levels(2).channels(4));
  const auto sigma_before = distill->sigma.detach().clone();
  const auto adapter_before = distill->neck_adapt[0]->as<torch::nn::Sequential>()->parameters()[0].detach().clone();
  const auto student_before = batch.student_maps[0].detach().clone();
  auto parameters = distill->parameters();
  parameters.insert(parameters.end(), batch.student_maps.begin(), batch.student_maps.end());
  torch::optim::SGD optimizer(parameters, torch::optim::SGDOptions(0.5));
  std::vector<double> values;
  for (int step = 0; step < 4; ++step) {
    optimizer.zero_grad();
    const auto value = distill_batch(distill, batch);
    value.backward();
    for (const auto& map : batch.teacher_maps) EXPECT_FALSE(map.grad().defined());
    for (const auto& map : batch.student_maps) {  // the distillation's purpose: a gradient into the student
      ASSERT_TRUE(map.grad().defined());
      EXPECT_GT(map.grad().abs().sum().item<double>(), 0.0);
    }
    optimizer.step();
    values.push_back(value.item<double>());
  }
  for (size_t k = 1; k < values.size(); ++k) EXPECT_LT(values[k], values[k - 1]) << k;
  EXPECT_NE(distill->sigma.item<double>(), sigma_before.item<double>());
  EXPECT_FALSE(torch::equal(distill->neck_adapt[0]->as<torch::nn::Sequential>()->parameters()[0], adapter_before));
  EXPECT_FALSE(torch::equal(batch.student_maps[0].detach(), student_before));
}

TEST(EntropyDistillation, ReadsMapsAndProposalsFromTaps) {
  torch::manual_seed(12);
  const auto batch = small_batch();
  EntropyDistillation distill(EntropyDistillationOptions().levels(2).channels(4));
  lowbit::taps::TapRecord student, teacher;
  for (int l = 0; l < 2; ++l) {
    student.put("neck.p" + std::to_string(l + 2), batch.student_maps[l]);
    teacher.put("neck.p" + std::to_string(l + 2), batch.teacher_maps[l]);
  }
  // [K, 6] (batch index, x1, y1, x2, y2, score), images interleaved.
  const auto with_index = [](const std::vector<torch::Tensor>& per_image) {
    std::vector<torch::Tensor> rows;
    for (int64_t b = 0; b < 2; ++b) rows.push_back(torch::cat({torch::full({6, 1}, double(b)), per_image[b]}, 1));
    return torch::cat(rows).index_select(0, torch::tensor({0, 6, 1, 7, 2, 8, 3, 9, 4, 10, 5, 11}));
  };
  student.put("rpn_head.proposals", with_index(batch.student_proposals));
  teacher.put("rpn_head.proposals", with_index(batch.teacher_proposals));
  teacher.put("backbone.c5", torch::zeros({1}));
  EXPECT_TRUE(torch::allclose(distill->from_taps(student, teacher, batch.image_sizes), distill_batch(distill, batch)));
}

TEST(EntropyDistillation, BadOptionsAndMismatchedInputsFailClearly) {
  EXPECT_NE(error_of([] { EntropyDistillation(EntropyDistillationOptions().weight(-0.5)); })
                .find("weight (hint_neck_w) must be >= 0, got -0.5"),
            std::string::npos);
  EXPECT_NE(error_of([] { EntropyDistillation(EntropyDistillationOptions().proportion(0)); })
                .find("proportion (gamma) must be in (0, 1], got 0"),
            std::string::npos);
  EXPECT_NE(error_of([] { EntropyDistillation(EntropyDistillationOptions().score_threshold(1.5)); })
                .find("score_threshold must be in [0, 1]"),
            std::string::npos);
  EXPECT_EQ(lowbit::losses::parse_ida_geometry("fixed"), IdaGeometry::Fixed);
  EXPECT_NE(error_of([] { lowbit::losses::parse_ida_geometry("oficial"); }).find("did you mean 'official'?"),
            std::string::npos);

  torch::manual_seed(13);
  auto batch = small_batch();
  EntropyDistillation distill(EntropyDistillationOptions().levels(2).channels(4));
  auto narrow = batch;
  narrow.teacher_maps[1] = torch::randn({2, 4, 8, 5});
  EXPECT_NE(error_of([&] { distill_batch(distill, narrow); })
                .find("student_maps[1] [2, 4, 8, 6] and teacher_maps[1] [2, 4, 8, 5] must be one shape"),
            std::string::npos);
  lowbit::taps::TapRecord student, teacher;
  student.put("neck.p2", batch.student_maps[0]);
  student.put("neck.p3", batch.student_maps[1]);
  teacher.put("neck.p2", batch.teacher_maps[0]);
  teacher.put("neck.p3", narrow.teacher_maps[1]);
  student.put("rpn_head.proposals", torch::zeros({0, 6}));
  teacher.put("rpn_head.proposals", torch::zeros({0, 6}));
  EXPECT_NE(error_of([&] { distill->from_taps(student, teacher, batch.image_sizes); })
                .find("student tap 'neck.p3' [2, 4, 8, 6] and teacher tap 'neck.p3' [2, 4, 8, 5] must be one shape"),
            std::string::npos);
  teacher.clear();
  teacher.put("neck.p2", batch.teacher_maps[0]);
  EXPECT_NE(error_of([&] { distill->from_taps(student, teacher, batch.image_sizes); })
                .find("1 teacher taps match feature_pattern '^neck\\.p[2-6]$', expected 2 levels"),
            std::string::npos);
  EXPECT_NE(error_of([&] { distill(batch.student_maps, batch.teacher_maps, batch.student_proposals,
                                   batch.teacher_proposals, torch::ones({2, 3})); })
                .find("image_sizes must be [B, 2] (height, width), got shape [2, 3]"),
            std::string::npos);
  auto wide = batch;
  wide.student_maps = {torch::randn({2, 5, 16, 12}), torch::randn({2, 5, 8, 6})};
  wide.teacher_maps = wide.student_maps;
  EXPECT_NE(error_of([&] { distill_batch(distill, wide); }).find("has 5 channels, the adapters 4"), std::string::npos);
}

// Float16 maps (autocast): the squared differences are taken in float, past float16's 65504.
TEST(EntropyLoss, HalfMapsAreComparedInFloat) {
  const auto teacher = torch::full({1, 2, 2, 2}, 300.0).to(torch::kHalf);
  const auto adapted = torch::zeros({1, 2, 2, 2}).to(torch::kHalf);
  const auto loss = lowbit::losses::entropy_loss(teacher, adapted, torch::ones({1, 2, 2}), torch::ones({1, 1, 1, 1}));
  EXPECT_NEAR(loss.item<double>(), 2 * 300.0 * 300.0, 1e-3);  // sigma 1: the mean of twice the squared error
}
