#include <lowbit/csrc/ops/ternarize.h>

#include <gtest/gtest.h>

#include <torch/torch.h>

using lowbit::ops::Ste;

TEST(Ternarize, TwnRuleOnSpecExample) {
  // tervit.md: W_c = [1, -1, 0.1, 0.1], delta 0.7 -> Delta = 0.385, mask [1,1,0,0], alpha = 1.
  const auto w = torch::tensor({{1.0, -1.0, 0.1, 0.1}}, torch::kDouble);
  const auto scale = lowbit::ops::ternary_scale(w, 0.7, true);
  EXPECT_NEAR(scale.threshold.item<double>(), 0.385, 1e-12);
  EXPECT_NEAR(scale.alpha.item<double>(), 1.0, 1e-12);
  EXPECT_TRUE(torch::equal(lowbit::ops::ternarize(w, 0.7, true, Ste::Identity),
                           torch::tensor({{1.0, -1.0, 0.0, 0.0}}, torch::kDouble)));
}

TEST(Ternarize, RowsAreIndependentWithThreeLevels) {
  auto w = torch::randn({4, 3, 3, 3}, torch::kDouble);
  const auto t = lowbit::ops::ternarize(w, 0.7, true, Ste::Identity);
  for (int64_t c = 0; c < 4; ++c) {
    EXPECT_LE(std::get<0>(torch::_unique(t[c])).numel(), 3);
    const auto kept = t[c] != 0;
    EXPECT_NEAR(t[c].abs().max().item<double>(), w[c].abs().masked_select(kept).mean().item<double>(), 1e-12);
  }
  auto changed = w.clone();
  changed[0] *= 10;
  const auto t2 = lowbit::ops::ternarize(changed, 0.7, true, Ste::Identity);
  EXPECT_TRUE(torch::equal(t.slice(0, 1), t2.slice(0, 1)));
}

TEST(Ternarize, LayerWiseSharesOneScale) {
  const auto w = torch::tensor({{1.0, -1.0, 0.1, 0.1}, {4.0, -4.0, 0.2, 2.0}}, torch::kDouble);
  const auto t = lowbit::ops::ternarize(w, 0.7, false, Ste::Identity);
  // Delta = 0.7 * mean|W| = 0.7 * 1.55 = 1.085; kept |W| = {4, 4, 2} -> alpha = 10/3.
  const double alpha = 10.0 / 3.0;
  EXPECT_TRUE(torch::allclose(t, torch::tensor({{0.0, 0.0, 0.0, 0.0}, {alpha, -alpha, 0.0, alpha}}, torch::kDouble)));
}

TEST(Ternarize, StraightThroughGradients) {
  const auto upstream = torch::tensor({{1.0, 2.0, 3.0, 4.0}}, torch::kDouble);
  for (auto ste : {Ste::Identity, Ste::Clipped}) {
    auto w = torch::tensor({{1.5, -1.0, 0.1, 0.3}}, torch::kDouble).requires_grad_(true);
    (lowbit::ops::ternarize(w, 0.7, true, ste) * upstream).sum().backward();
    const auto expected = ste == Ste::Identity ? upstream : upstream * torch::tensor({{0.0, 1.0, 1.0, 1.0}}, torch::kDouble);
    EXPECT_TRUE(torch::equal(w.grad(), expected));
  }
}

TEST(Ternarize, RejectsNonPositiveThreshold) {
  for (double delta : {0.0, -0.5}) {
    try {
      lowbit::ops::ternarize(torch::ones({2, 2}), delta, true, Ste::Identity);
      FAIL();
    } catch (const c10::ValueError& e) {
      EXPECT_NE(e.msg().find("delta must be > 0"), std::string::npos) << e.msg();
    }
  }
}
