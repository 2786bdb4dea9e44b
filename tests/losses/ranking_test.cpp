// Ranking-aware attention distillation (Bi-ViT, as proposed in methods/bivit.md §3).
#include <lowbit/modules/losses/ranking.h>

#include "support/error_of.h"
#include "support/gradcheck.h"

#include <gtest/gtest.h>

#include <torch/torch.h>

#include <cmath>

namespace {

using lowbit::losses::ranking_loss;
using lowbit::losses::RankingForm;
using lowbit::losses::RankingOptions;
using lowbit::testing::compare_gradients;
using lowbit::testing::error_of;

double softplus(double x) { return std::log1p(std::exp(x)); }

torch::Tensor row(std::initializer_list<double> values) { return torch::tensor(std::vector<double>(values), torch::kDouble).view({1, 1, 1, -1}); }

// Softmax rows [B, H, N, N] with distinct values.
torch::Tensor attention(int64_t batch, int64_t heads, int64_t tokens) {
  return torch::softmax(3 * torch::randn({batch, heads, tokens, tokens}, torch::kDouble), -1);
}

const RankingOptions kAllKeys = RankingOptions().top_k(0).scale(1);

}  // namespace

TEST(RankingLoss, LogisticHandComputed) {
  const auto teacher = row({0.5, 0.3, 0.2}), student = row({0.2, 0.3, 0.5});
  // Pairs in the teacher's order: Δ = s_0 − s_1 = −0.1, s_0 − s_2 = −0.3, s_1 − s_2 = −0.2.
  EXPECT_NEAR(ranking_loss(student, teacher, kAllKeys).item<double>(),
              (softplus(0.1) + softplus(0.3) + softplus(0.2)) / 3, 1e-12);
  // The default scale is the number of keys, N = 3.
  EXPECT_NEAR(ranking_loss(student, teacher, RankingOptions().top_k(0)).item<double>(),
              (softplus(0.3) + softplus(0.9) + softplus(0.6)) / 3, 1e-12);
}

TEST(RankingLoss, HingeHandComputedAndZeroOnceOrderedWithMargin) {
  const auto teacher = row({0.5, 0.3, 0.2}), student = row({0.2, 0.3, 0.5});
  const auto hinge = RankingOptions().form(RankingForm::Hinge).top_k(0).scale(10);
  // Δ = −1, −3, −2: max(0, 1 − Δ) = 2, 4, 3.
  EXPECT_NEAR(ranking_loss(student, teacher, hinge).item<double>(), 3.0, 1e-12);
  // At the teacher Δ = 2, 3, 1 >= margin 1.
  EXPECT_NEAR(ranking_loss(teacher, teacher, hinge).item<double>(), 0.0, 1e-12);
}

TEST(RankingLoss, ListNetIsZeroAtTheTeacher) {
  const auto teacher = attention(2, 2, 5), student = attention(2, 2, 5);
  const auto listnet = RankingOptions().form(RankingForm::ListNet).top_k(0).scale(2);
  EXPECT_NEAR(ranking_loss(teacher, teacher, listnet).item<double>(), 0.0, 1e-12);
  const auto q = torch::softmax(2 * teacher, -1), log_p = torch::log_softmax(2 * student, -1);
  EXPECT_NEAR(ranking_loss(student, teacher, listnet).item<double>(),
              (q * (q.log() - log_p)).sum(-1).mean().item<double>(), 1e-12);
}

TEST(RankingLoss, LogisticPrefersTheTeachersOrder) {
  const auto teacher = attention(2, 2, 6);
  const auto reversed = torch::softmax(-3 * teacher, -1);  // every row in the opposite order
  const auto options = RankingOptions().top_k(0);
  EXPECT_LT(ranking_loss(teacher, teacher, options).item<double>(), ranking_loss(reversed, teacher, options).item<double>());
  // At the teacher, the gradient still widens the gaps: it raises the teacher's best key of each row.
  const auto student = teacher.clone().requires_grad_(true);
  ranking_loss(student, teacher, options).backward();
  const auto best = std::get<1>(teacher.max(-1, true));
  EXPECT_TRUE(student.grad().gather(-1, best).lt(0).all().item<bool>());
}

TEST(RankingLoss, TargetsDependOnlyOnTheTeachersOrder) {
  const auto teacher = attention(2, 3, 7), student = attention(2, 3, 7);
  const auto transformed = torch::exp(5 * teacher) * 4 - 1;  // strictly increasing
  for (const auto form : {RankingForm::Logistic, RankingForm::Hinge}) {
    for (const int64_t k : {0, 3}) {
      const auto options = RankingOptions().form(form).top_k(k);
      EXPECT_EQ(ranking_loss(student, teacher, options).item<double>(),
                ranking_loss(student, transformed, options).item<double>());
    }
  }
}

TEST(RankingLoss, OnlyTheTeachersTopKeysCount) {
  const auto teacher = row({0.1, 0.4, 0.2, 0.3}), student = row({0.3, 0.1, 0.4, 0.2}).requires_grad_(true);
  const auto options = RankingOptions().top_k(2).scale(1);
  const auto loss = ranking_loss(student, teacher, options);
  // Keys 1 (0.4) and 3 (0.3): one pair, Δ = 0.1 − 0.2.
  EXPECT_NEAR(loss.item<double>(), softplus(0.1), 1e-12);
  loss.backward();
  const auto g = student.grad().flatten();
  EXPECT_EQ(g[0].item<double>(), 0.0);
  EXPECT_EQ(g[2].item<double>(), 0.0);
  EXPECT_LT(g[1].item<double>(), 0.0);
  EXPECT_NEAR(g[1].item<double>(), -g[3].item<double>(), 1e-15);
}

TEST(RankingLoss, TeacherTiesAreLeftOut) {
  const auto teacher = row({0.4, 0.4, 0.2}), student = row({0.5, 0.1, 0.4});
  // Pairs (0, 2) and (1, 2) only: Δ = 0.1 and −0.3.
  EXPECT_NEAR(ranking_loss(student, teacher, kAllKeys).item<double>(), (softplus(-0.1) + softplus(0.3)) / 2, 1e-12);
}

TEST(RankingLoss, GradientsMatchFiniteDifferences) {
  const auto teacher = attention(2, 2, 5);
  for (const auto form : {RankingForm::Logistic, RankingForm::Hinge, RankingForm::ListNet}) {
    const auto options = RankingOptions().form(form).top_k(3);
    const auto pair = compare_gradients([&](const torch::Tensor& s) { return ranking_loss(s, teacher, options); },
                                        attention(2, 2, 5));
    EXPECT_TRUE(torch::allclose(pair.analytic, pair.numeric, 1e-5, 1e-7)) << static_cast<int>(form);
  }
}

TEST(RankingLoss, GradientReachesTheStudentOnly) {
  const auto teacher = attention(1, 2, 4).requires_grad_(true);
  const auto student = attention(1, 2, 4).requires_grad_(true);
  ranking_loss(student, teacher).backward();
  EXPECT_GT(student.grad().abs().sum().item<double>(), 0.0);
  EXPECT_FALSE(teacher.grad().defined());
}

TEST(RankingLoss, BadInputsAreNamed) {
  const auto a = attention(1, 1, 4);
  EXPECT_NE(error_of([&] { ranking_loss(a, attention(1, 1, 5)); }).find("ranking: student [1, 1, 4, 4] and teacher [1, 1, 5, 5]"),
            std::string::npos);
  EXPECT_NE(error_of([&] { ranking_loss(a, a, RankingOptions().top_k(-1)); }).find("ranking: top_k must be >= 0"),
            std::string::npos);
}
