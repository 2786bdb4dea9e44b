// The `ternary` quantizer (modules/quant/ternary.h): TWN scale per channel / per tensor, and the
// learnable-alpha form (TerViT Option B, shared/methods/tervit.md sections 4 and 9).
#include <lowbit/modules/quant/registry.h>
#include <lowbit/modules/quant/ternary.h>

#include "support/error_of.h"

#include <gtest/gtest.h>

#include <torch/torch.h>

#include <cmath>

namespace {

using lowbit::quant::Ternary;
using lowbit::quant::TernaryOptions;
using lowbit::quant::TernaryScale;
using lowbit::testing::error_of;

TernaryOptions learnable(int64_t channels) { return TernaryOptions().scale(TernaryScale::Learnable).channels(channels); }

}  // namespace

TEST(TernaryQuantizer, AllZeroRowGivesZerosAndFiniteAlpha) {
  const auto w = torch::tensor({{0.0, 0.0, 0.0}, {1.0, -2.0, 0.1}}, torch::kDouble).requires_grad_(true);
  const auto t = Ternary()(w);
  EXPECT_TRUE(torch::equal(t[0], torch::zeros({3}, torch::kDouble)));
  EXPECT_TRUE(torch::allclose(t[1], torch::tensor({1.5, -1.5, 0.0}, torch::kDouble)));
  t.sum().backward();
  EXPECT_TRUE(torch::isfinite(w.grad()).all().item<bool>());

  Ternary q(learnable(2));
  const auto tl = q(w.detach().to(torch::kFloat));
  EXPECT_TRUE(torch::isfinite(q->alpha).all().item<bool>());
  EXPECT_GT(q->alpha[0].item<float>(), 0);  // kept positive: LSQ divides by it
  EXPECT_TRUE(torch::equal(tl[0], torch::zeros({3})));
}

TEST(TernaryQuantizer, LearnableInitialisesFromTwnAlphaOnce) {
  const auto w = torch::tensor({{1.0, -1.0, 0.1, 0.1}, {4.0, -4.0, 0.2, 2.0}});
  Ternary q(learnable(2));
  EXPECT_FALSE(q->initialized.item<bool>());
  const auto t = q(w);
  EXPECT_TRUE(q->initialized.item<bool>());
  // Per row: Delta = 0.7 mean|W|; alpha = mean of the kept |W|: row 0 {1, 1} -> 1; row 1
  // Delta = 1.085, kept {4, 4, 2} -> 10/3.
  EXPECT_TRUE(torch::allclose(q->alpha, torch::tensor({1.0f, 10.0f / 3})));
  // Levels round(clamp(W/alpha, -1, 1)) * alpha: implicit threshold alpha / 2.
  const float a = 10.0f / 3;
  EXPECT_TRUE(torch::allclose(t, torch::tensor({{1.0f, -1.0f, 0.0f, 0.0f}, {a, -a, 0.0f, a}})));
  for (int64_t c = 0; c < 2; ++c) EXPECT_LE(std::get<0>(torch::_unique(t[c])).numel(), 3);
  // Later forwards use the stored alpha, not the new weights' TWN alpha.
  q(w * 5);
  EXPECT_TRUE(torch::allclose(q->alpha, torch::tensor({1.0f, 10.0f / 3})));
  // A load of an uninitialised state (as a checkpoint saved before the first forward) is seen.
  q->initialized.copy_(torch::zeros({}, torch::kBool));
  q(w * 5);
  EXPECT_TRUE(torch::allclose(q->alpha, torch::tensor({5.0f, 50.0f / 3})));
}

TEST(TernaryQuantizer, LearnableGradientsAreLsqWithUnitRange) {
  // One channel, alpha = 1 set explicitly: u = W / alpha.
  Ternary q(learnable(1));
  q->initialize_from(torch::ones({1, 4}));
  {
    torch::NoGradGuard no_grad;
    q->alpha.fill_(1.0);
  }
  auto w = torch::tensor({{0.3f, -0.8f, 1.5f, -2.0f}}).requires_grad_(true);
  const auto upstream = torch::tensor({{1.0f, 2.0f, 3.0f, 4.0f}});
  (q(w) * upstream).sum().backward();
  // dW: pass inside [-alpha, alpha]
  EXPECT_TRUE(torch::equal(w.grad(), torch::tensor({{1.0f, 2.0f, 0.0f, 0.0f}})));
  // dalpha = g * sum G * (round(u) - u inside, sign(u) outside), g = 1/sqrt(numel * 1)
  const double g = 1.0 / std::sqrt(4.0);
  const double expected = g * (1 * (0 - 0.3) + 2 * (-1 + 0.8) + 3 * 1 + 4 * -1);
  EXPECT_NEAR(q->alpha.grad().item<float>(), expected, 1e-6);
}

TEST(TernaryQuantizer, LearnableAlphaMovesOverOptimizerSteps) {
  torch::manual_seed(0);
  Ternary q(learnable(3));
  auto w = torch::randn({3, 8}).requires_grad_(true);
  const auto target = torch::randn({3, 8});
  q(w);
  torch::optim::SGD sgd({w, q->alpha}, 0.05);
  std::vector<torch::Tensor> alphas{q->alpha.detach().clone()};
  for (int step = 0; step < 2; ++step) {
    sgd.zero_grad();
    (q(w) - target).pow(2).sum().backward();
    ASSERT_TRUE(q->alpha.grad().defined());
    sgd.step();
    alphas.push_back(q->alpha.detach().clone());
  }
  EXPECT_FALSE(torch::equal(alphas[0], alphas[1]));
  EXPECT_FALSE(torch::equal(alphas[1], alphas[2]));
  EXPECT_TRUE(q->initialized.item<bool>());
}

TEST(TernaryQuantizer, LayerWiseLearnableHasOneAlpha) {
  auto q = lowbit::quant::make("ternary", {{"scale", "learnable"}, {"per_channel", false}, {"channels", 4}});
  const auto w = torch::tensor({{1.0f, -1.0f, 0.1f, 0.1f}, {4.0f, -4.0f, 0.2f, 2.0f}});
  q(w);
  const auto alpha = q->named_parameters()["alpha"];
  ASSERT_EQ(alpha.numel(), 1);
  EXPECT_NEAR(alpha.item<float>(), 10.0f / 3, 1e-6);  // the per-tensor TWN alpha
}

TEST(TernaryQuantizer, RegistryBuildsBothScales) {
  EXPECT_TRUE(lowbit::quant::takes_channels("ternary"));
  auto twn = lowbit::quant::make("ternary", {{"channels", 5}});
  EXPECT_TRUE(twn->named_parameters().is_empty());
  auto b = lowbit::quant::make("ternary", {{"scale", "learnable"}, {"channels", 5}});
  EXPECT_EQ(b->named_parameters()["alpha"].numel(), 5);
  EXPECT_EQ(b->named_buffers().size(), 1u);
  EXPECT_EQ(b->bits(), 2);
}

TEST(TernaryQuantizer, BadOptionsFailClearly) {
  const auto has = [](const std::string& msg, const std::string& part) {
    EXPECT_NE(msg.find(part), std::string::npos) << msg;
  };
  has(error_of([] { Ternary(TernaryOptions().delta(0)); }), "ternary: threshold factor delta must be > 0, got 0");
  has(error_of([] { lowbit::quant::make("ternary", {{"delta", -0.7}}); }), "delta must be > 0, got -0.7");
  has(error_of([] { lowbit::quant::make("ternary", {{"scale", "learned"}}); }), "quantizer 'ternary': scale: unknown scale 'learned'; expected one of twn, learnable");
  has(error_of([] { lowbit::quant::make("ternary", {{"ste", "approx"}}); }), "must be identity or clipped, got approx");
  has(error_of([] { lowbit::quant::make("ternary", {{"scale", "learnable"}, {"ste", "clipped"}}); }),
      "ste applies to scale: twn only");
  has(error_of([] { lowbit::quant::make("ternary", {{"scale", "learnable"}, {"channels", 0}}); }),
      "ternary: channels must be >= 1, got 0");
  has(error_of([] { Ternary(learnable(4))(torch::ones({3, 2})); }),
      "ternary: learnable alpha has 4 channels, the weight 3 output channels");
  has(error_of([] { Ternary()(torch::ones({3})); }), "at least 2 dims");
}
