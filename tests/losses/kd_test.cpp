// Logit losses: KL distillation, ReActNet's distribution loss, DeiT hard distillation, label CE.
#include <lowbit/modules/losses/kd.h>

#include "support/error_of.h"
#include "support/gradcheck.h"

#include <gtest/gtest.h>

#include <torch/torch.h>

#include <cmath>

namespace {

using lowbit::testing::compare_gradients;
using lowbit::testing::error_of;
namespace losses = lowbit::losses;

torch::Tensor logits(std::initializer_list<double> values, int64_t classes) {
  return torch::tensor(std::vector<double>(values), torch::kDouble).view({-1, classes});
}

}  // namespace

TEST(KlDistillation, HandComputedTwoClasses) {
  // Teacher [ln 3, 0] -> q = [3/4, 1/4]; student [0, 0] -> p = [1/2, 1/2].
  const auto student = logits({0.0, 0.0}, 2), teacher = logits({std::log(3.0), 0.0}, 2);
  const double kl = 0.75 * std::log(0.75 / 0.5) + 0.25 * std::log(0.25 / 0.5);
  EXPECT_NEAR(losses::kl_distillation(student, teacher).item<double>(), kl, 1e-12);
  // T = 2: teacher [ln 3 / 2, 0] -> q = [√3, 1] / (1 + √3); times T² = 4.
  const double q0 = std::sqrt(3.0) / (1 + std::sqrt(3.0)), q1 = 1 - q0;
  EXPECT_NEAR(losses::kl_distillation(student, teacher, 2.0).item<double>(),
              4 * (q0 * std::log(q0 / 0.5) + q1 * std::log(q1 / 0.5)), 1e-12);
}

TEST(KlDistillation, ZeroWhenStudentEqualsTeacherAndAveragedOverImages) {
  const auto z = torch::randn({4, 5}, torch::kDouble);
  EXPECT_NEAR(losses::kl_distillation(z, z, 3.0).item<double>(), 0.0, 1e-12);
  const auto s = torch::randn({4, 5}, torch::kDouble);
  double sum = 0;
  for (int64_t n = 0; n < 4; ++n) sum += losses::kl_distillation(s.slice(0, n, n + 1), z.slice(0, n, n + 1)).item<double>();
  EXPECT_NEAR(losses::kl_distillation(s, z).item<double>(), sum / 4, 1e-12);
}

TEST(KlDistillation, GradientIsTemperatureTimesProbabilityGap) {
  const auto teacher = torch::randn({3, 4}, torch::kDouble);
  const auto student = torch::randn({3, 4}, torch::kDouble).requires_grad_(true);
  const double t = 2.5;
  losses::kl_distillation(student, teacher, t).backward();
  const auto expected = t * (torch::softmax(student.detach() / t, 1) - torch::softmax(teacher / t, 1)) / 3;
  EXPECT_TRUE(torch::allclose(student.grad(), expected, 1e-10, 1e-12));
  const auto pair = compare_gradients([&](const torch::Tensor& s) { return losses::kl_distillation(s, teacher, t); },
                                      torch::randn({3, 4}));
  EXPECT_TRUE(torch::allclose(pair.analytic, pair.numeric, 1e-5, 1e-7));
}

TEST(DistributionLoss, HandComputedIsSoftCrossEntropyWithoutLabels) {
  // q = [3/4, 1/4], p = [1/2, 1/2]: −(3/4 ln 1/2 + 1/4 ln 1/2) = ln 2.
  EXPECT_NEAR(losses::distribution_loss(logits({0.0, 0.0}, 2), logits({std::log(3.0), 0.0}, 2)).item<double>(),
              std::log(2.0), 1e-12);
}

TEST(DistributionLoss, IsKlPlusTeacherEntropySoMinimalAtTheTeacher) {
  const auto teacher = torch::randn({3, 6}, torch::kDouble), student = torch::randn({3, 6}, torch::kDouble);
  const auto q = torch::softmax(teacher, 1);
  const double entropy = -(q * q.log()).sum(1).mean().item<double>();
  EXPECT_NEAR(losses::distribution_loss(teacher, teacher).item<double>(), entropy, 1e-12);
  EXPECT_NEAR(losses::distribution_loss(student, teacher).item<double>(),
              losses::kl_distillation(student, teacher).item<double>() + entropy, 1e-12);
  const auto pair = compare_gradients([&](const torch::Tensor& s) { return losses::distribution_loss(s, teacher, 2.0); },
                                      student);
  EXPECT_TRUE(torch::allclose(pair.analytic, pair.numeric, 1e-5, 1e-7));
}

TEST(HardDistillation, CrossEntropyToTheTeachersArgmax) {
  const auto student = logits({1.0, 2.0, 3.0, 0.0, 0.0, 0.0}, 3).requires_grad_(true);
  const auto teacher = logits({5.0, 0.0, 0.0, 0.0, 0.0, 9.0}, 3);  // argmax 0 and 2
  const auto loss = losses::hard_distillation(student, teacher);
  const double first = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0)) - 1.0, second = std::log(3.0);
  EXPECT_NEAR(loss.item<double>(), (first + second) / 2, 1e-12);
  loss.backward();
  auto expected = torch::softmax(student.detach(), 1);
  expected.index_put_({0, 0}, expected.index({0, 0}) - 1);
  expected.index_put_({1, 2}, expected.index({1, 2}) - 1);
  EXPECT_TRUE(torch::allclose(student.grad(), expected / 2, 1e-10, 1e-12));
}

TEST(LabelCrossEntropy, SmoothingMixesTheUniformTarget) {
  const auto z = torch::randn({4, 5}, torch::kDouble);
  const auto labels = torch::tensor({0, 3, 4, 1}, torch::kLong);
  const auto log_p = torch::log_softmax(z, 1);
  const auto nll = -log_p.gather(1, labels.unsqueeze(1)).mean();
  const auto uniform = -log_p.mean(1).mean();
  EXPECT_NEAR(losses::label_cross_entropy(z, labels).item<double>(), nll.item<double>(), 1e-12);
  EXPECT_NEAR(losses::label_cross_entropy(z, labels, 0.1).item<double>(), (0.9 * nll + 0.1 * uniform).item<double>(),
              1e-12);
}

TEST(LogitDistillation, GradientReachesTheStudentOnly) {
  const auto teacher = torch::randn({2, 3}, torch::requires_grad());
  for (const auto& loss : {losses::kl_distillation, losses::distribution_loss}) {
    const auto student = torch::randn({2, 3}, torch::requires_grad());
    loss(student, teacher, 2.0).backward();
    EXPECT_TRUE(student.grad().defined());
    EXPECT_FALSE(teacher.grad().defined());
  }
  const auto student = torch::randn({2, 3}, torch::requires_grad());
  losses::hard_distillation(student, teacher).backward();
  EXPECT_FALSE(teacher.grad().defined());
}

TEST(LogitDistillation, BadInputsAreNamed) {
  const auto z = torch::zeros({2, 3});
  EXPECT_NE(error_of([&] { losses::kl_distillation(z, z, 0.0); }).find("kl: temperature must be > 0, got 0"),
            std::string::npos);
  EXPECT_NE(error_of([&] { losses::distribution_loss(z, torch::zeros({2, 4})); })
                .find("distribution: student logits [2, 3] and teacher logits [2, 4] differ in shape"),
            std::string::npos);
  EXPECT_NE(error_of([&] { losses::label_cross_entropy(z, torch::zeros({3}, torch::kLong)); }).find("ce: expected 2 labels"),
            std::string::npos);
}
