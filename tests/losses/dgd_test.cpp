// Q-ViT's distribution-guided distillation on similarity matrices of queries / keys.
#include <lowbit/modules/losses/dgd.h>

#include "support/error_of.h"
#include "support/gradcheck.h"

#include <gtest/gtest.h>

#include <torch/torch.h>

#include <cmath>

namespace {

using lowbit::losses::DgdNormalization;
using lowbit::losses::DgdOptions;
using lowbit::losses::dgd_loss;
using lowbit::losses::normalized_similarity;
using lowbit::testing::compare_gradients;
using lowbit::testing::error_of;

const DgdOptions kRow{}, kFrobenius = DgdOptions().normalization(DgdNormalization::Frobenius);

// Float16 queries (autocast): the similarity is computed in float, where the sum of squares of the
// Gram matrix does not overflow.
TEST(Dgd, HalfInputsAreComparedInFloat) {
  torch::manual_seed(2);
  const auto x = torch::randn({1, 2, 50, 64}) * 4;
  const auto half = normalized_similarity(x.to(torch::kHalf), DgdNormalization::Row);
  EXPECT_TRUE(torch::isfinite(half).all().item<bool>());
  EXPECT_TRUE(torch::allclose(half, normalized_similarity(x.to(torch::kHalf).to(torch::kFloat), DgdNormalization::Row)));
}

}  // namespace

TEST(Dgd, HandComputedTwoTokens) {
  // Teacher X = I: G = I. Student X = [[1, 0], [1, 0]]: G = all ones.
  const auto teacher = torch::eye(2, torch::kDouble).view({1, 2, 2});
  const auto student = torch::tensor({1.0, 0.0, 1.0, 0.0}, torch::kDouble).view({1, 2, 2});
  // Row: I − ones/√2, ‖·‖²_F = 2(1 − 1/√2)² + 2·(1/2) = 4 − 2√2.
  EXPECT_NEAR(dgd_loss(student, teacher).item<double>(), std::sqrt(4 - 2 * std::sqrt(2.0)), 1e-12);
  EXPECT_NEAR(dgd_loss(student, teacher, DgdOptions().squared(true)).item<double>(), 4 - 2 * std::sqrt(2.0), 1e-12);
  // Frobenius: I/√2 − ones/2, ‖·‖²_F = 2(1/√2 − 1/2)² + 2·(1/4) = 2 − √2.
  EXPECT_NEAR(dgd_loss(student, teacher, kFrobenius).item<double>(), std::sqrt(2 - std::sqrt(2.0)), 1e-12);
}

TEST(Dgd, ZeroForAnyPositiveScaleOfTheTeacher) {
  const auto teacher = torch::randn({2, 3, 5, 4}, torch::kDouble);
  for (const double c : {1.0, 0.01, 2.5, 300.0}) {
    EXPECT_NEAR(dgd_loss(c * teacher, teacher).item<double>(), 0.0, 1e-6) << c;
    EXPECT_NEAR(dgd_loss(c * teacher, teacher, kFrobenius).item<double>(), 0.0, 1e-6) << c;
  }
  EXPECT_GT(dgd_loss(torch::randn({2, 3, 5, 4}, torch::kDouble), teacher).item<double>(), 0.1);
}

TEST(Dgd, GradientAtTheTeacherIsZeroNotNan) {
  const auto teacher = torch::randn({1, 2, 4, 3}, torch::kDouble);
  const auto student = teacher.clone().requires_grad_(true);
  dgd_loss(student, teacher).backward();
  EXPECT_TRUE(torch::equal(student.grad(), torch::zeros_like(teacher)));
}

TEST(Dgd, SimilarityIsSymmetricAndNormalised) {
  const auto x = torch::randn({2, 3, 5, 4}, torch::kDouble);
  const auto g = torch::matmul(x, x.transpose(-2, -1));
  const auto frobenius = normalized_similarity(x, DgdNormalization::Frobenius);
  EXPECT_TRUE(torch::allclose(frobenius, frobenius.transpose(-2, -1)));
  EXPECT_TRUE(torch::allclose(frobenius.square().sum({-2, -1}), torch::ones({2, 3}, torch::kDouble)));
  const auto row = normalized_similarity(x, DgdNormalization::Row);
  EXPECT_TRUE(torch::allclose(row.square().sum(-1), torch::ones({2, 3, 5}, torch::kDouble)));
  EXPECT_TRUE(torch::allclose(row, g / g.norm(2, -1, true)));
}

TEST(Dgd, SumsOverHeadsAndAveragesOverImages) {
  const auto s = torch::randn({2, 3, 5, 4}, torch::kDouble), t = torch::randn({2, 3, 5, 4}, torch::kDouble);
  double sum = 0;
  for (int64_t n = 0; n < 2; ++n) {
    for (int64_t h = 0; h < 3; ++h) sum += dgd_loss(s[n][h].unsqueeze(0), t[n][h].unsqueeze(0)).item<double>();
  }
  EXPECT_NEAR(dgd_loss(s, t).item<double>(), sum / 2, 1e-12);
}

TEST(Dgd, FeatureSizesMayDifferTokensMayNot) {
  const auto t = torch::randn({2, 3, 5, 8});
  EXPECT_NO_THROW(dgd_loss(torch::randn({2, 3, 5, 4}), t));
  const auto msg = error_of([&] { dgd_loss(torch::randn({2, 3, 6, 8}), t); });
  EXPECT_NE(msg.find("dgd: student [2, 3, 6, 8] and teacher [2, 3, 5, 8] must agree on [batch, heads..., tokens]"),
            std::string::npos)
      << msg;
}

TEST(Dgd, GradientsMatchFiniteDifferences) {
  const auto teacher = torch::randn({2, 2, 4, 3}, torch::kDouble);
  for (const auto& options : {kRow, kFrobenius, DgdOptions().squared(true), DgdOptions(kFrobenius).squared(true)}) {
    const auto pair = compare_gradients([&](const torch::Tensor& s) { return dgd_loss(s, teacher, options); },
                                        torch::randn({2, 2, 4, 3}));
    EXPECT_TRUE(torch::allclose(pair.analytic, pair.numeric, 1e-5, 1e-7));
  }
}

TEST(Dgd, GradientReachesTheStudentOnly) {
  const auto teacher = torch::randn({1, 2, 4, 3}, torch::requires_grad());
  const auto student = torch::randn({1, 2, 4, 3}, torch::requires_grad());
  dgd_loss(student, teacher).backward();
  EXPECT_GT(student.grad().abs().sum().item<double>(), 0.0);
  EXPECT_FALSE(teacher.grad().defined());
}
