// Q-ViT's ActQ and Bi-ViT's ActBi (qvit_act): values and gradients against the official
// autograd graph, lazy initialisation, the signed flag, per-head / per-feature state.
#include <lowbit/modules/quant/qvit_act.h>
#include <lowbit/modules/quant/registry.h>

#include "support/error_of.h"

#include <gtest/gtest.h>

#include <torch/torch.h>

#include <cmath>

namespace {

using lowbit::quant::QvitAct;
using lowbit::quant::QvitActOptions;
using lowbit::testing::error_of;

// Value alpha.detach(), gradient scaled by g (Quant.py grad_scale).
torch::Tensor grad_scale(const torch::Tensor& x, double g) { return (x - x * g).detach() + x * g; }
// Forward f(x), gradient identity (round_pass / sign_pass).
torch::Tensor pass(const torch::Tensor& forward, const torch::Tensor& x) { return (forward - x).detach() + x; }

// Official ActQ (bits >= 2) / ActBi (bits 1) forward, written with plain autograd ops as in
// Quant.py / Bi_Quant.py, the state broadcast along `dim` of x.
torch::Tensor official(const torch::Tensor& x, const torch::Tensor& alpha, const torch::Tensor& zero_point,
                       int64_t bits, bool is_signed, int64_t dim) {
  double qn = 0, qp = std::pow(2.0, bits) - 1;
  if (bits == 1) {
    qn = -1;
    qp = 1;
  } else if (is_signed) {
    qn = -std::pow(2.0, bits - 1);
    qp = std::pow(2.0, bits - 1) - 1;
  }
  const double g = 1.0 / std::sqrt(static_cast<double>(x.numel()) * qp);
  std::vector<int64_t> view(x.dim(), 1);
  view[c10::maybe_wrap_dim(dim, x.dim())] = alpha.numel();
  const auto z = grad_scale(pass(zero_point.round(), zero_point), g).view(view);
  const auto a = grad_scale(alpha, g).view(view);
  const auto u = (x / a + z).clamp(qn, qp);
  const auto level = bits == 1 ? pass(u.sign(), u) : pass(u.round(), u);
  return (level - z) * a;
}

// A quantizer in double precision, already initialised, with the given state.
QvitAct initialised(int64_t bits, int64_t channels, int64_t dim, const torch::Tensor& alpha,
                    const torch::Tensor& zero_point, bool is_signed) {
  QvitAct act(QvitActOptions(bits).channels(channels).channel_dim(dim));
  act->to(torch::kDouble);
  torch::NoGradGuard no_grad;
  act->alpha.copy_(alpha);
  act->zero_point.copy_(zero_point);
  act->init_state.fill_(1);
  act->signed_.fill_(is_signed ? 1 : 0);
  return act;
}

struct Grads {
  torch::Tensor value, x, alpha, zero_point;
};

Grads run_ours(QvitAct& act, const torch::Tensor& x0, const torch::Tensor& upstream) {
  auto x = x0.clone().requires_grad_(true);
  act->zero_grad();
  const auto y = act(x);
  (y * upstream).sum().backward();
  return {y.detach(), x.grad(), act->alpha.grad().clone(), act->zero_point.grad().clone()};
}

Grads run_official(const torch::Tensor& x0, const torch::Tensor& alpha0, const torch::Tensor& z0, int64_t bits,
                   bool is_signed, int64_t dim, const torch::Tensor& upstream) {
  auto x = x0.clone().requires_grad_(true);
  auto alpha = alpha0.clone().requires_grad_(true);
  auto z = z0.clone().requires_grad_(true);
  const auto y = official(x, alpha, z, bits, is_signed, dim);
  (y * upstream).sum().backward();
  return {y.detach(), x.grad(), alpha.grad(), z.grad()};
}

void expect_same(const Grads& ours, const Grads& ref, const std::string& what) {
  EXPECT_TRUE(torch::allclose(ours.value, ref.value, 1e-9, 1e-12)) << what;
  EXPECT_TRUE(torch::allclose(ours.x, ref.x)) << what;  // the official graph has (G / alpha) * alpha
  EXPECT_TRUE(torch::allclose(ours.alpha, ref.alpha, 1e-9, 1e-12)) << what << "\n" << ours.alpha << ref.alpha;
  EXPECT_TRUE(torch::allclose(ours.zero_point, ref.zero_point, 1e-9, 1e-12)) << what << "\n"
                                                                             << ours.zero_point << ref.zero_point;
}

}  // namespace

TEST(QvitAct, MatchesOfficialGraphValuesAndGradients) {
  torch::manual_seed(3);
  struct Case {
    std::vector<int64_t> shape;
    int64_t dim;
  };
  for (const auto& c : {Case{{2, 5, 6}, -1}, Case{{2, 3, 4, 4}, 1}}) {
    for (int64_t bits : {1, 2, 3, 4}) {
      for (bool is_signed : {true, false}) {
        const int64_t channels = c.shape[c10::maybe_wrap_dim(c.dim, c.shape.size())];
        const auto x = torch::randn(c.shape, torch::kDouble) * 1.5 + (is_signed ? 0.0 : 1.0);
        const auto alpha = torch::rand({channels}, torch::kDouble) * 0.4 + 0.2;
        const auto z = torch::randn({channels}, torch::kDouble) * 1.2;  // some round to +-1, +-2
        const auto upstream = torch::randn(c.shape, torch::kDouble);
        auto act = initialised(bits, channels, c.dim, alpha, z, is_signed);
        expect_same(run_ours(act, x, upstream), run_official(x, alpha, z, bits, is_signed, c.dim, upstream),
                    "bits " + std::to_string(bits) + " signed " + std::to_string(is_signed) + " dim " +
                        std::to_string(c.dim));
      }
    }
  }
}

TEST(QvitAct, InitialisesLazilyOnTheFirstTrainingBatchOnly) {
  QvitAct act(QvitActOptions(4).channels(3));  // signed 4-bit: Qn = -8, Qp = 7
  const auto x = torch::tensor({{-1.0, 2.0, 0.5}, {3.0, -0.5, 1.0}});
  act->eval();
  act(x);
  EXPECT_FALSE(act->initialized());
  EXPECT_TRUE(torch::equal(act->alpha, torch::ones({3})));
  act->train();
  act(x);
  EXPECT_TRUE(act->initialized());
  EXPECT_TRUE(act->is_signed());
  const double alpha = 2 * (8.0 / 6) / std::sqrt(7.0);
  EXPECT_TRUE(torch::allclose(act->alpha, torch::full({3}, alpha)));
  EXPECT_TRUE(torch::allclose(act->zero_point, torch::full({3}, 0.1 * (-1.0 + 8 * alpha))));

  // Two optimizer steps: the state moves by its gradient only, never re-initialised.
  torch::optim::SGD sgd(act->parameters(), 0.5);
  for (int step = 0; step < 2; ++step) {
    const auto before = act->alpha.clone();
    sgd.zero_grad();
    act(x * 10 - 20).pow(2).sum().backward();
    sgd.step();
    EXPECT_TRUE(torch::allclose(act->alpha, before - 0.5 * act->alpha.grad())) << step;
    EXPECT_FALSE(torch::allclose(act->alpha, before)) << step;
  }
  EXPECT_TRUE(act->is_signed());
}

TEST(QvitAct, SignedFlagComesFromTheFirstBatchOnly) {
  QvitAct act(QvitActOptions(2));
  act(torch::tensor({0.1, 0.3, 0.2, 0.6}));  // softmax-like: unsigned, Qn = 0, Qp = 3
  EXPECT_FALSE(act->is_signed());
  const auto y = act(torch::tensor({-5.0, -0.2, 0.4}));
  EXPECT_FALSE(act->is_signed());
  EXPECT_GE(y.min().item<double>(), 0.0);  // z_r = 0: negative inputs clamp to level 0

  QvitAct signed_act(QvitActOptions(2));
  signed_act(torch::tensor({-0.1, 0.3}));
  signed_act(torch::tensor({0.1, 0.3}));
  EXPECT_TRUE(signed_act->is_signed());
}

TEST(QvitAct, UnsignedTwoBitSoftmaxLevels) {
  const auto probs = torch::softmax(torch::randn({2, 3, 5, 5}), -1);
  QvitAct act(QvitActOptions(2).channels(3).channel_dim(1));
  act(probs);
  ASSERT_FALSE(act->is_signed());
  {
    torch::NoGradGuard no_grad;
    act->alpha.fill_(0.1);
    act->zero_point.fill_(0.3);  // rounds to 0
  }
  const auto codes_of_probs = act(probs) / 0.1;
  EXPECT_TRUE(torch::allclose(codes_of_probs, torch::round(codes_of_probs).clamp(0, 3), 0, 1e-5));
  const auto codes = act(torch::tensor({0.0, 0.12, 0.21, 0.29, 0.9}).view({1, 1, 1, 5}).expand({1, 3, 1, 5}));
  EXPECT_TRUE(torch::allclose(codes[0][0][0], torch::tensor({0.0, 0.1, 0.2, 0.3, 0.3})));
}

TEST(QvitAct, ZeroPointGradientOnlyOnClampedElements) {
  // Signed 2-bit: Qn = -2, Qp = 1; alpha 0.5, z = 0: u = 2x.
  auto act = initialised(2, 1, -1, torch::tensor({0.5}, torch::kDouble), torch::tensor({0.0}, torch::kDouble), true);
  const auto x = torch::tensor({-3.0, -0.6, 0.3, 0.4, 2.0}, torch::kDouble);
  const auto upstream = torch::tensor({1.0, 2.0, 3.0, 4.0, 5.0}, torch::kDouble);
  const auto g = run_ours(act, x, upstream);
  const double grad_scale = 1.0 / std::sqrt(5.0 * 1);
  EXPECT_NEAR(g.zero_point.item<double>(), -grad_scale * 0.5 * (1.0 + 5.0), 1e-12);  // clamped: -3 and 2
  // Nothing clamped: no zero-point gradient.
  const auto inside = run_ours(act, torch::tensor({-0.6, 0.3, 0.4}, torch::kDouble), torch::ones({3}, torch::kDouble));
  EXPECT_EQ(inside.zero_point.item<double>(), 0.0);
  EXPECT_NE(inside.alpha.item<double>(), 0.0);
}

TEST(QvitAct, ZeroPointIsRoundedForwardWithIdentityGradient) {
  // z = -0.6 acts as -1: u = x/alpha - 1 with alpha 1, unsigned 2-bit [0, 3].
  auto act = initialised(2, 1, -1, torch::tensor({1.0}, torch::kDouble), torch::tensor({-0.6}, torch::kDouble), false);
  const auto g = run_ours(act, torch::tensor({1.2, 2.6, 9.0}, torch::kDouble), torch::ones({3}, torch::kDouble));
  // u = [0.2, 1.6, 8 -> 3]: levels 0, 2, 3; minus z_r = -1: 1, 3, 4.
  EXPECT_TRUE(torch::allclose(g.value, torch::tensor({1.0, 3.0, 4.0}, torch::kDouble)));
  // Only 9.0 is clamped: d/dz = -g alpha, with g = 1/sqrt(3 * 3), unchanged by the rounding.
  EXPECT_NEAR(g.zero_point.item<double>(), -1.0 / 3.0, 1e-12);
}

TEST(QvitAct, PerHeadStateOnAttentionMaps) {
  const auto alpha = torch::tensor({0.1, 0.2, 0.4}, torch::kDouble);
  auto act = initialised(3, 3, 1, alpha, torch::zeros({3}, torch::kDouble), false);
  const auto attn = torch::softmax(torch::randn({2, 3, 4, 4}, torch::kDouble), -1);
  const auto y = act(attn);
  for (int64_t h = 0; h < 3; ++h) {
    const auto codes = y.select(1, h) / alpha[h];
    EXPECT_TRUE(torch::allclose(codes, torch::round(codes))) << h;
    EXPECT_TRUE(torch::allclose(y.select(1, h), torch::round(attn.select(1, h) / alpha[h]).clamp(0, 7) * alpha[h]));
  }
}

TEST(QvitAct, PerFeatureStateOnTokens) {
  const auto alpha = torch::tensor({0.1, 0.5}, torch::kDouble);
  auto act = initialised(4, 2, -1, alpha, torch::tensor({0.0, 2.0}, torch::kDouble), true);
  const auto tokens = torch::randn({3, 5, 2}, torch::kDouble);
  const auto y = act(tokens);
  // feature 1: (round(clamp(x / 0.5 + 2, -8, 7)) - 2) * 0.5
  EXPECT_TRUE(torch::allclose(y.select(2, 1), (torch::round((tokens.select(2, 1) / 0.5 + 2).clamp(-8, 7)) - 2) * 0.5));
  EXPECT_TRUE(torch::allclose(y.select(2, 0), torch::round((tokens.select(2, 0) / 0.1).clamp(-8, 7)) * 0.1));
}

TEST(QvitAct, ActBiInitialisation) {
  QvitAct act(QvitActOptions(1).channels(2).channel_dim(1));
  const auto x = torch::tensor({{-1.0, 3.0}, {0.5, 0.5}});
  act(x);
  const double alpha = 2 * 1.25;  // 2 mean|x| / sqrt(1)
  EXPECT_TRUE(torch::allclose(act->alpha, torch::full({2}, alpha)));
  EXPECT_TRUE(torch::allclose(act->zero_point, torch::full({2}, 0.1 * (-1.0 + alpha))));
}

TEST(QvitAct, ActBiHasTwoLevelsPerHeadAndSignOfZero) {
  const auto alpha = torch::tensor({0.3, 0.7}, torch::kDouble);
  auto act = initialised(1, 2, 1, alpha, torch::tensor({0.2, -1.0}, torch::kDouble), true);
  const auto y = act(torch::randn({4, 2, 3, 3}, torch::kDouble) + 0.5);
  for (int64_t h = 0; h < 2; ++h) {
    EXPECT_LE(std::get<0>(at::_unique(y.select(1, h))).numel(), 2) << h;
  }
  // Head 0 (z_r = 0): levels -alpha, +alpha, and 0 where u = 0 exactly (torch.sign(0) = 0).
  // Head 1 (z_r = -1): levels 0 and 2 alpha; x = 0 gives u = -1 (inside), b = -1, output 0.
  const auto y0 = act(torch::tensor({0.0, 0.1, 0.0, 1.05}, torch::kDouble).view({1, 2, 1, 2}));
  EXPECT_TRUE(torch::allclose(y0.flatten(), torch::tensor({0.0, 0.3, 0.0, 1.4}, torch::kDouble)));
}

TEST(QvitAct, ActBiStepGradientFollowsBiVitFormula) {
  // g (b - z_r - m x / alpha) per element; z gradient 0 when nothing is clamped.
  const double alpha = 0.5;
  auto act = initialised(1, 1, -1, torch::tensor({alpha}, torch::kDouble), torch::tensor({0.0}, torch::kDouble), true);
  const auto x = torch::tensor({-0.4, -0.1, 0.2, 0.45}, torch::kDouble);
  const auto g = run_ours(act, x, torch::ones({4}, torch::kDouble));
  double expected = 0;
  for (double v : {-0.4, -0.1, 0.2, 0.45}) expected += (v > 0 ? 1.0 : -1.0) - v / alpha;
  EXPECT_NEAR(g.alpha.item<double>(), expected / std::sqrt(4.0), 1e-12);
  EXPECT_EQ(g.zero_point.item<double>(), 0.0);
  EXPECT_TRUE(torch::equal(g.x, torch::ones({4}, torch::kDouble)));
  // Clamped elements: alpha term b - z_r, x gradient 0.
  const auto clamped = run_ours(act, torch::tensor({2.0, -3.0, 0.25}, torch::kDouble), torch::ones({3}, torch::kDouble));
  EXPECT_NEAR(clamped.alpha.item<double>(), (1.0 - 1.0 + (1.0 - 0.5)) / std::sqrt(3.0), 1e-12);
  EXPECT_NEAR(clamped.zero_point.item<double>(), -alpha * 2 / std::sqrt(3.0), 1e-12);
  EXPECT_TRUE(torch::equal(clamped.x, torch::tensor({0.0, 0.0, 1.0}, torch::kDouble)));
}

TEST(QvitAct, BadOptionsAreRejected) {
  EXPECT_NE(error_of([] { QvitAct(QvitActOptions(0)); }).find("qvit_act: bits must be in [1, 16], got 0"),
            std::string::npos);
  EXPECT_NE(error_of([] { QvitAct(QvitActOptions(17)); }).find("got 17"), std::string::npos);
  EXPECT_NE(error_of([] { QvitAct(QvitActOptions(4).channels(0)); }).find("channels must be >= 1, got 0"),
            std::string::npos);
  QvitAct act(QvitActOptions(4).channels(6).channel_dim(1));
  EXPECT_NE(error_of([&] { act(torch::randn({2, 3, 4, 4})); })
                .find("qvit_act: 6 channels (alpha, zero_point) along channel_dim 1, but the input of shape [2, 3, 4, 4] "
                      "has 3 there"),
            std::string::npos);
  QvitAct far(QvitActOptions(4).channel_dim(3));
  EXPECT_NE(error_of([&] { far(torch::randn({2, 3})); }).find("channel_dim 3 is out of range for input shape [2, 3]"),
            std::string::npos);
  EXPECT_NE(error_of([] { lowbit::quant::make("qvit_act", {{"channels", 4}}); }).find("missing option 'bits'"),
            std::string::npos);
}

TEST(QvitAct, StateKeepsOfficialNames) {
  QvitAct act(QvitActOptions(4).channels(3));
  const auto params = act->named_parameters();
  const auto buffers = act->named_buffers();
  EXPECT_TRUE(params.contains("alpha") && params.contains("zero_point"));
  EXPECT_TRUE(buffers.contains("init_state") && buffers.contains("signed"));
  EXPECT_EQ(params["alpha"].sizes(), torch::IntArrayRef({3}));
}
