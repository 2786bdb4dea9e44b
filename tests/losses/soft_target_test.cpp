// The cross-entropies DeiT trains with: timm's SoftTargetCrossEntropy on mixup's soft targets and
// LabelSmoothingCrossEntropy without mixup. Values and gradients against timm (the numbers of
// tests/data/reference/mixup_reference.txt, double precision) and against the formulas of kd.h.
#include <lowbit/modules/losses/kd.h>

#include "support/error_of.h"
#include "support/reference_numbers.h"

#include <gtest/gtest.h>

#include <torch/torch.h>

namespace {

namespace losses = lowbit::losses;

const std::map<std::string, torch::Tensor>& timm() {
  static const auto numbers = lowbit::testing::read_reference_numbers("tests/data/reference/mixup_reference.txt");
  return numbers;
}

torch::Tensor logits() { return timm().at("loss.logits").clone().requires_grad_(); }
torch::Tensor labels() { return timm().at("input.labels").to(torch::kLong); }

}  // namespace

TEST(SoftTargetCrossEntropy, ValueAndGradientAsTimm) {
  const auto z = logits();
  const auto loss = losses::soft_target_cross_entropy(z, timm().at("loss.soft_targets"));
  loss.backward();
  EXPECT_NEAR(loss.item<double>(), timm().at("soft_ce.value").item<double>(), 1e-15);
  EXPECT_TRUE(torch::allclose(z.grad(), timm().at("soft_ce.grad"), 0, 1e-15));
}

TEST(SoftTargetCrossEntropy, GradientIsProbabilityMinusTargetOverBatch) {
  const auto z = logits();
  const auto t = timm().at("loss.soft_targets");
  losses::soft_target_cross_entropy(z, t).backward();
  const auto p = torch::softmax(z.detach(), 1);
  EXPECT_TRUE(torch::allclose(z.grad(), (p * t.sum(1, true) - t) / 4, 0, 1e-15));
}

TEST(SoftTargetCrossEntropy, OneHotTargetsGiveTheLabelCrossEntropy) {
  const auto z = logits().detach();
  const auto one_hot = torch::one_hot(labels(), 6).to(torch::kDouble);
  EXPECT_NEAR(losses::soft_target_cross_entropy(z, one_hot).item<double>(),
              losses::label_cross_entropy(z, labels()).item<double>(), 1e-14);
}

TEST(LabelSmoothingCrossEntropy, ValueAndGradientAsTimm) {
  const auto z = logits();
  const auto loss = losses::label_cross_entropy(z, labels(), 0.1);
  loss.backward();
  EXPECT_NEAR(loss.item<double>(), timm().at("label_smoothing_ce.value").item<double>(), 1e-14);
  EXPECT_TRUE(torch::allclose(z.grad(), timm().at("label_smoothing_ce.grad"), 0, 1e-15));
}

TEST(LabelSmoothingCrossEntropy, GradientIsProbabilityMinusSmoothedOneHot) {
  const auto z = logits();
  losses::label_cross_entropy(z, labels(), 0.1).backward();
  const auto p = torch::softmax(z.detach(), 1);
  const auto target = 0.9 * torch::one_hot(labels(), 6).to(torch::kDouble) + 0.1 / 6;
  EXPECT_TRUE(torch::allclose(z.grad(), (p - target) / 4, 0, 1e-15));
}

TEST(ClassificationCrossEntropy, SoftTargetsWhenPresentElseLabels) {
  const auto z = logits().detach();
  const auto t = timm().at("loss.soft_targets");
  EXPECT_TRUE(torch::equal(losses::classification_cross_entropy(z, labels(), t),
                           losses::soft_target_cross_entropy(z, t)));
  EXPECT_TRUE(torch::equal(losses::classification_cross_entropy(z, labels(), {}, 0.1),
                           losses::label_cross_entropy(z, labels(), 0.1)));
  const auto error = lowbit::testing::error_of([&] { losses::classification_cross_entropy(z, labels(), t, 0.1); });
  EXPECT_NE(error.find("data.mixup.label_smoothing"), std::string::npos) << error;
  EXPECT_NE(lowbit::testing::error_of([&] { losses::soft_target_cross_entropy(z, t.slice(1, 0, 5)); })
                .find("differ in shape"),
            std::string::npos);
}
