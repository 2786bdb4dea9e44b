// AdaBin (Tu et al. ECCV 2022), the checklist of shared/methods/adabin.md §9: the weight
// binarizer's levels, affine invariance and gradient through mean and std; the EDE schedule
// through the training hooks; the activation binarizer's values and the gradients of α_a, β_a.
#include <lowbit/modules/hooks/training_hooks.h>
#include <lowbit/modules/layers/qconv2d.h>
#include <lowbit/modules/models/registry.h>
#include <lowbit/modules/quant/adabin.h>
#include <lowbit/modules/quant/registry.h>

#include "support/error_of.h"
#include "support/gradcheck.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <sstream>

using lowbit::quant::AdaBin;
using lowbit::quant::AdaBinAct;
using lowbit::quant::AdaBinActForm;
using lowbit::quant::AdaBinActOptions;
using lowbit::quant::AdaBinOptions;
using lowbit::testing::error_of;

namespace {

// Per output channel: mean and population std of W_o.
std::pair<torch::Tensor, torch::Tensor> centre_and_distance(const torch::Tensor& w) {
  const auto filters = w.flatten(1);
  return {filters.mean(1, true), filters.std(1, /*unbiased=*/false, /*keepdim=*/true)};
}

// The straight-through twin of the weight binarizer around w0: α(W)·(sign(Ŵ0) + k·tanh(t·Ŵ) −
// k·tanh(t·Ŵ0)) + β(W). Its value at w0 is the binarizer's, its derivative is the binarizer's
// backward (sign's value, EDE's slope), and it is smooth, so central differences apply.
torch::Tensor straight_through(const torch::Tensor& w, const torch::Tensor& w0, double k, double t) {
  const auto [beta, alpha] = centre_and_distance(w);
  const auto [beta0, alpha0] = centre_and_distance(w0);
  const auto hat = (w.flatten(1) - beta) / alpha, hat0 = (w0.flatten(1) - beta0) / alpha0;
  const auto s = torch::sign(hat0) + k * torch::tanh(t * hat) - k * torch::tanh(t * hat0);
  return (alpha * s + beta).view_as(w);
}

void expect_weight_gradient_matches_straight_through(lowbit::quant::AdaBinImpl& q, const torch::Tensor& w0) {
  const double k = q.k.item<double>(), t = q.t.item<double>();
  const auto weights = torch::rand(w0.sizes(), torch::kDouble) + 0.5;
  const auto w = w0.clone().requires_grad_(true);
  const auto binary = q.forward(w);
  EXPECT_TRUE(torch::allclose(binary, straight_through(w0, w0, k, t), 1e-12, 1e-12));
  (binary * weights).sum().backward();
  const auto numeric = lowbit::testing::numerical_gradient(
      [&](const torch::Tensor& v) { return straight_through(v, w0, k, t) * weights; }, w0);
  EXPECT_TRUE(torch::allclose(w.grad(), numeric, 1e-5, 1e-7))
      << "k " << k << " t " << t << "\nautograd\n" << w.grad().flatten().slice(0, 0, 8) << "\nnumeric\n"
      << numeric.flatten().slice(0, 0, 8);
}

// Bi-Real Net's piecewise-quadratic F, whose derivative is ApproxSign.
torch::Tensor approx_sign_surrogate(const torch::Tensor& u) {
  return torch::where(u < -1, -torch::ones_like(u),
                      torch::where(u < 0, u * u + 2 * u, torch::where(u < 1, -u * u + 2 * u, torch::ones_like(u))));
}

torch::Tensor approx_sign_derivative(const torch::Tensor& u) { return (2 - 2 * u.abs()).clamp_min(0); }

void set_scalars(AdaBinAct& act, double alpha, double beta) {
  torch::NoGradGuard no_grad;
  act->alpha_a.fill_(alpha);
  act->beta_a.fill_(beta);
}

}  // namespace

TEST(AdaBinWeight, TwoLevelsPerChannelAtMeanPlusMinusPopulationStd) {
  torch::manual_seed(0);
  const auto w = torch::randn({2, 3, 3, 3}, torch::kDouble) * 0.2 + torch::tensor({0.5, -0.1}, torch::kDouble).view({2, 1, 1, 1});
  const auto binary = AdaBin()(w);
  const auto [mu, sigma] = centre_and_distance(w);
  for (int64_t o = 0; o < 2; ++o) {
    const auto levels = std::get<0>(torch::_unique(binary[o].flatten()));
    ASSERT_EQ(levels.numel(), 2) << "channel " << o;
    const double m = mu[o].item<double>(), s = sigma[o].item<double>();
    EXPECT_NEAR(levels.min().item<double>(), m - s, 1e-12);
    EXPECT_NEAR(levels.max().item<double>(), m + s, 1e-12);
    // Population std: sqrt(Σ(W − μ)²/27), not /26.
    EXPECT_NEAR(s * s, (w[o] - m).pow(2).sum().item<double>() / 27, 1e-12);
    // Entries above the mean take the upper level.
    EXPECT_TRUE(torch::equal(binary[o] > m, w[o] > m));
  }
}

TEST(AdaBinWeight, BalancedSignsKeepTheMeanAndAZeroDeviationGivesTheCentre) {
  // Channel 0: 3 + {±1, ..., ±13, 0}; channel 1: 27 distinct values around -2. All exact in double.
  auto deviations = torch::cat({torch::arange(1, 14), -torch::arange(1, 14), torch::zeros({1})}).to(torch::kDouble);
  const auto w = torch::stack({3 + deviations, -2 + 0.5 * torch::arange(-13, 14).to(torch::kDouble)}).view({2, 3, 3, 3});
  const auto binary = AdaBin()(w);
  const double sigma = std::sqrt(deviations.pow(2).sum().item<double>() / 27);
  const auto channel = binary[0].flatten();
  // sign(0) = 0: the entry at the mean binarizes to β_w, a third level.
  EXPECT_DOUBLE_EQ(channel[26].item<double>(), 3.0);
  EXPECT_TRUE(torch::allclose(channel.slice(0, 0, 13), torch::full({13}, 3 + sigma, torch::kDouble)));
  EXPECT_TRUE(torch::allclose(channel.slice(0, 13, 26), torch::full({13}, 3 - sigma, torch::kDouble)));
  EXPECT_NEAR(channel.mean().item<double>(), 3.0, 1e-12);
  EXPECT_NEAR(binary[1].mean().item<double>(), -2.0, 1e-12);
}

TEST(AdaBinWeight, CommutesWithAPositiveAffineMap) {
  torch::manual_seed(1);
  const auto w = torch::randn({4, 3, 3, 3}, torch::kDouble);
  AdaBin q;
  for (const auto& [a, b] : {std::pair{2.5, -0.7}, std::pair{0.01, 3.0}}) {
    EXPECT_TRUE(torch::allclose(q(a * w + b), a * q(w) + b, 1e-10, 1e-10)) << "a " << a << " b " << b;
  }
}

TEST(AdaBinWeight, GradientFlowsThroughMeanAndStdAsTheStraightThroughSurrogate) {
  torch::manual_seed(2);
  const auto w0 = torch::randn({2, 3, 3, 3}, torch::kDouble) * 0.3 + 0.1;
  AdaBin at_start;  // k = 10, t = 0.1
  expect_weight_gradient_matches_straight_through(*at_start, w0);
  AdaBin peaked(AdaBinOptions().k(1).t(10));  // the schedule's last epochs
  expect_weight_gradient_matches_straight_through(*peaked, w0);
}

TEST(AdaBinWeight, CentreAndDistanceAreNotDetached) {
  // With a uniform upstream gradient, at t = 10 and Ŵ = ±1 the EDE slope is ~1e-7, and the α_w
  // terms cancel (Σ sign = 0), but β_w = mean(W) passes 1/n to every entry from each of the n
  // outputs: the gradient is 1, where detached statistics would give ~0.
  const auto w = torch::tensor({-3.0, -3.0, 3.0, 3.0}, torch::kDouble).view({1, 4, 1, 1}).requires_grad_(true);
  AdaBin q(AdaBinOptions().k(1).t(10));
  q(w).sum().backward();
  EXPECT_TRUE(torch::allclose(w.grad(), torch::ones_like(w), 0, 1e-6)) << w.grad();
}

TEST(AdaBinSchedule, LogLinearTAndKIsItsInverseBelowOne) {
  using lowbit::quant::ede_schedule;
  const int64_t epochs = 10;
  EXPECT_NEAR(ede_schedule(0, epochs).t, 1e-3, 1e-15);
  EXPECT_NEAR(ede_schedule(0, epochs).k, 1e3, 1e-9);
  EXPECT_NEAR(ede_schedule(epochs / 2, epochs).t, 0.1, 1e-15);  // E even: t(E/2) = 10^(-3 + 2)
  EXPECT_NEAR(ede_schedule(epochs / 2, epochs).k, 10, 1e-12);
  for (int64_t e = 0; e < epochs; ++e) {
    const auto step = ede_schedule(e, epochs);
    EXPECT_NEAR(step.t, std::pow(10.0, -3 + 4.0 * e / epochs), 1e-12 * step.t) << e;
    EXPECT_DOUBLE_EQ(step.k, step.t < 1 ? 1 / step.t : 1.0) << e;
  }
  EXPECT_NEAR(ede_schedule(7, epochs).k, std::pow(10.0, 0.2), 1e-12);  // t = 10^-0.2 < 1
  EXPECT_EQ(ede_schedule(8, epochs).k, 1.0);                            // t = 10^0.2 > 1
  EXPECT_NEAR(ede_schedule(9, epochs).t, std::pow(10.0, 0.6), 1e-12);   // t_max = 10 is never reached
  EXPECT_NE(error_of([] { ede_schedule(10, 10); }).find("adabin: EDE schedule epoch 10 is outside [0, 10)"),
            std::string::npos);
}

TEST(AdaBinSchedule, HooksSetKAndTOfEveryLayerAtEachEpochAndTheBackwardFollows) {
  lowbit::models::QuantPolicy policy;
  policy.weight = {"adabin", {}};
  policy.input = {"adabin_act", {}};
  auto model = lowbit::models::make(
      "adabin_resnet20",
      {{"widths", std::vector<int64_t>{4, 8, 8}}, {"blocks", std::vector<int64_t>{1, 1, 1}}, {"in_channels", int64_t{1}}},
      policy);
  std::vector<lowbit::quant::AdaBinImpl*> quantizers;
  for (const auto& m : model->modules()) {
    if (auto* q = dynamic_cast<lowbit::quant::AdaBinImpl*>(m.get())) quantizers.push_back(q);
  }
  ASSERT_EQ(quantizers.size(), 3u);
  for (auto* q : quantizers) {  // before any update: the code's k = 10, t = 0.1
    EXPECT_FLOAT_EQ(q->k.item<float>(), 10);
    EXPECT_FLOAT_EQ(q->t.item<float>(), 0.1f);
  }
  torch::manual_seed(3);
  const auto w0 = torch::randn({2, 3, 3, 3}, torch::kDouble);
  const int64_t epochs = 4;
  for (int64_t e = 0; e < epochs; ++e) {
    lowbit::hooks::begin_epoch(*model, e, epochs);
    const auto expected = lowbit::quant::ede_schedule(e, epochs);
    for (auto* q : quantizers) {
      EXPECT_FLOAT_EQ(q->t.item<float>(), static_cast<float>(expected.t)) << "epoch " << e;
      EXPECT_FLOAT_EQ(q->k.item<float>(), static_cast<float>(expected.k)) << "epoch " << e;
    }
    expect_weight_gradient_matches_straight_through(*quantizers[0], w0);
  }
}

TEST(AdaBinSchedule, NotProgressiveKeepsKAndT) {
  auto q = lowbit::quant::make("adabin", {{"progressive", false}});
  lowbit::hooks::begin_epoch(*q, 0, 10);
  auto* adabin = dynamic_cast<lowbit::quant::AdaBinImpl*>(q.get());
  ASSERT_NE(adabin, nullptr);
  EXPECT_FLOAT_EQ(adabin->k.item<float>(), 10);
  EXPECT_FLOAT_EQ(adabin->t.item<float>(), 0.1f);
}

TEST(AdaBinSchedule, KAndTAreSavedLoadedAndCloned) {
  AdaBin q;
  lowbit::hooks::begin_epoch(*q, 3, 8);
  std::stringstream stream;
  torch::save(q, stream);
  AdaBin restored;
  torch::load(restored, stream);
  EXPECT_TRUE(torch::equal(restored->t, q->t));
  EXPECT_TRUE(torch::equal(restored->k, q->k));
  auto copy = std::dynamic_pointer_cast<lowbit::quant::AdaBinImpl>(q->clone());
  EXPECT_TRUE(torch::equal(copy->t, q->t));
  lowbit::hooks::begin_epoch(*copy, 7, 8);
  EXPECT_FALSE(torch::equal(copy->t, q->t));  // deep
}

TEST(AdaBinSchedule, TrainsAcrossEpochsAndStepsWithTwoLevelsThroughout) {
  // A QConv2d with both binarizers, 3 epochs × 2 SGD steps: the schedule moves per epoch,
  // α_a and β_a learn, and the binary weight stays at μ ± σ of the current latent weight.
  torch::manual_seed(4);
  lowbit::layers::QConv2d conv(lowbit::layers::QConv2dOptions(3, 2, 3).padding(1).bias(false)
                                   .weight_quantizer(AdaBin())
                                   .input_quantizer(AdaBinAct()));
  auto* weight_q = dynamic_cast<lowbit::quant::AdaBinImpl*>(conv->weight_quantizer.get());
  auto* input_q = dynamic_cast<lowbit::quant::AdaBinActImpl*>(conv->input_quantizer.get());
  torch::optim::SGD sgd(conv->parameters(), torch::optim::SGDOptions(0.1));
  const auto x = torch::randn({4, 3, 5, 5}), target = torch::randn({4, 2, 5, 5});
  const int64_t epochs = 3;
  for (int64_t e = 0; e < epochs; ++e) {
    lowbit::hooks::begin_epoch(*conv, e, epochs);
    EXPECT_FLOAT_EQ(weight_q->t.item<float>(), static_cast<float>(lowbit::quant::ede_schedule(e, epochs).t));
    for (int step = 0; step < 2; ++step) {
      const float alpha = input_q->alpha_a.item<float>(), beta = input_q->beta_a.item<float>();
      sgd.zero_grad();
      torch::mse_loss(conv(x), target).backward();
      sgd.step();
      EXPECT_NE(input_q->alpha_a.item<float>(), alpha);
      EXPECT_NE(input_q->beta_a.item<float>(), beta);
      const auto binary = weight_q->forward(conv->weight.detach());
      const auto [mu, sigma] = centre_and_distance(conv->weight.detach());
      EXPECT_TRUE(torch::allclose((binary.flatten(1) - mu).abs(), sigma.expand({2, 27}), 1e-5, 1e-6));
    }
  }
}

TEST(AdaBinWeight, BadOptionsAreNamed) {
  EXPECT_NE(error_of([] { AdaBin(AdaBinOptions().k(-1)); }).find("adabin: k must be > 0, got -1"), std::string::npos);
  EXPECT_NE(error_of([] { lowbit::quant::make("adabin", {{"t_min", 0}}); })
                .find("adabin: the EDE schedule needs 0 < t_min, got 0"),
            std::string::npos);
  EXPECT_NE(error_of([] { lowbit::quant::make("adabin", {{"t_min", 1.0}, {"t_max", 0.5}}); })
                .find("adabin: the EDE schedule needs t_min <= t_max, got t_min = 1, t_max = 0.5"),
            std::string::npos);
  // Each check names one option, which a recipe error points at.
  try {
    lowbit::quant::make("adabin", {{"t_min", 1.0}, {"t_max", 0.5}});
    ADD_FAILURE() << "t_max < t_min was accepted";
  } catch (const lowbit::OptionError& e) {
    EXPECT_EQ(e.key(), std::vector<std::string>{"t_max"});
  }
  EXPECT_NE(error_of([] { lowbit::quant::make("adabin", {{"progresive", true}}); })
                .find("unknown option 'progresive' (did you mean 'progressive'?)"),
            std::string::npos);
  EXPECT_NE(error_of([] { AdaBin()(torch::ones({3})); }).find("adabin: expects a weight [C_out, ...]"), std::string::npos);
}

TEST(AdaBinAct, AtInitIsSignWithApproxSignGradient) {
  AdaBinAct act;
  const auto x = torch::tensor({-1.5, -0.5, 0.0, 0.5, 1.0}).requires_grad_(true);
  const auto y = act(x);
  EXPECT_TRUE(torch::equal(y, torch::tensor({-1.0, -1.0, 0.0, 1.0, 1.0})));
  y.sum().backward();
  EXPECT_TRUE(torch::allclose(x.grad(), torch::tensor({0.0, 1.0, 2.0, 1.0, 0.0})));
}

TEST(AdaBinAct, OutputsAreTheTwoLevelsOfEachForm) {
  torch::manual_seed(5);
  const auto x = torch::randn({64}) * 2;
  const double alpha = 1.5, beta = 0.2;
  for (const auto form : {AdaBinActForm::Code, AdaBinActForm::Paper}) {
    AdaBinAct act(AdaBinActOptions().form(form));
    set_scalars(act, alpha, beta);
    const auto y = act(x);
    const double low = form == AdaBinActForm::Code ? alpha * (beta - 1) : beta - alpha;
    const double high = form == AdaBinActForm::Code ? alpha * (beta + 1) : beta + alpha;
    EXPECT_TRUE(torch::allclose(y, torch::where(x > beta, torch::full_like(x, high), torch::full_like(x, low))));
  }
}

TEST(AdaBinAct, GradientsOfInputScaleAndCentre) {
  torch::manual_seed(6);
  // Away from the kinks of ApproxSign (u = -1, 0, 1), where central differences are exact enough.
  auto x = torch::randn({3, 4, 2, 2}, torch::kDouble) * 1.2;
  const double alpha = 1.3, beta = 0.2;
  auto u0 = (x - beta) / alpha;
  x = torch::where((u0.abs() < 0.02) | ((u0.abs() - 1).abs() < 0.02), x + 0.1, x);
  u0 = (x - beta) / alpha;
  const auto s0 = torch::sign(u0), g = approx_sign_derivative(u0);
  const auto weights = torch::rand(x.sizes(), torch::kDouble) + 0.5;
  for (const auto form : {AdaBinActForm::Code, AdaBinActForm::Paper}) {
    const bool code = form == AdaBinActForm::Code;
    AdaBinAct act(AdaBinActOptions().form(form));
    act->to(torch::kDouble);
    set_scalars(act, alpha, beta);
    const auto input = x.clone().requires_grad_(true);
    (act(input) * weights).sum().backward();
    // Closed forms (adabin.md §3).
    EXPECT_TRUE(torch::allclose(input.grad(), g * weights));
    const double d_alpha = ((code ? s0 + beta - u0 * g : s0 - u0 * g) * weights).sum().item<double>();
    const double d_beta = ((code ? alpha - g : 1 - g) * weights).sum().item<double>();
    EXPECT_NEAR(act->alpha_a.grad().item<double>(), d_alpha, 1e-9);
    EXPECT_NEAR(act->beta_a.grad().item<double>(), d_beta, 1e-9);
    // Numerically on the official straight-through form sign(u0) − F(u0) + F(u), F Bi-Real's surrogate.
    const auto reference = [&](const torch::Tensor& scalars) {
      const auto a = scalars[0], b = scalars[1];
      const auto s = s0 - approx_sign_surrogate(u0) + approx_sign_surrogate((x - b) / a);
      return (code ? a * (s + b) : a * s + b) * weights;
    };
    const auto numeric = lowbit::testing::numerical_gradient(reference, torch::tensor({alpha, beta}, torch::kDouble));
    EXPECT_NEAR(act->alpha_a.grad().item<double>(), numeric[0].item<double>(), 1e-6);
    EXPECT_NEAR(act->beta_a.grad().item<double>(), numeric[1].item<double>(), 1e-6);
  }
}

TEST(AdaBinAct, OfficialParameterNamesAndBadForm) {
  AdaBinAct act;
  const auto params = act->named_parameters();
  ASSERT_TRUE(params.contains("alpha_a") && params.contains("beta_a"));
  EXPECT_EQ(params["alpha_a"].dim(), 0);
  EXPECT_NE(error_of([] { lowbit::quant::make("adabin_act", {{"form", "papr"}}); })
                .find("unknown adabin_act form 'papr' (did you mean 'paper'?); expected one of code, paper"),
            std::string::npos);
  EXPECT_EQ(lowbit::quant::make("adabin_act")->bits(), 1);
  EXPECT_EQ(lowbit::quant::make("adabin")->bits(), 1);
}
