// ReBNN's weight binarizer (modules/quant/rebnn.h): the checklist of the method's spec
// (forward values, backward with g = 0 and gamma = 0, the sign(s) factor, the two gamma modes
// across optimizer steps, stage-1 -> stage-2 loading), its options, and a training run.
#include <lowbit/csrc/engine/checkpoint/load_state.h>
#include <lowbit/modules/layers/qconv2d.h>
#include <lowbit/modules/models/registry.h>
#include <lowbit/modules/quant/rebnn.h>
#include <lowbit/modules/quant/registry.h>
#include <lowbit/modules/quant/rsign.h>

#include "support/error_of.h"
#include "support/fashion_fit.h"

#include <gtest/gtest.h>

#include <torch/torch.h>

#include <sstream>

using lowbit::quant::GammaMode;
using lowbit::quant::ReBnn;
using lowbit::quant::ReBnnOptions;
using lowbit::testing::error_of;

namespace {

constexpr double kRebnnKappa = 0.02;

void set_tensor(torch::Tensor& target, const torch::Tensor& value) {
  torch::NoGradGuard no_grad;
  target.copy_(value.view(target.sizes()));
}

// A quantizer in double precision with the scales `s` (default: alpha = |s| = [1.5, 0.5], s_0 < 0).
ReBnn make_rebnn(ReBnnOptions options, const std::vector<double>& s = {-1.5, 0.5}) {
  ReBnn q(options);
  q->to(torch::kDouble);
  set_tensor(q->scaling_factor, torch::tensor(s, torch::kDouble));
  return q;
}

torch::Tensor alpha_of(const ReBnn& q) { return q->scaling_factor.detach().abs(); }

torch::Tensor channel_sum(const torch::Tensor& t) { return t.sum({1, 2, 3}, /*keepdim=*/true); }

// gamma_c recovered from a weight gradient: (dL/dW - alpha g) / (W - alpha kappa sign W), averaged
// over the channel's positions where the denominator is not tiny.
torch::Tensor gamma_from(const torch::Tensor& grad_w, const torch::Tensor& w, const torch::Tensor& alpha,
                         const torch::Tensor& upstream) {
  const auto r = w - alpha * kRebnnKappa * w.sign();
  return ((grad_w - alpha * upstream) / r).mean({1, 2, 3});
}

}  // namespace

TEST(ReBnn, ScaleHasOfficialNameShapeAndStandardNormalInit) {
  torch::manual_seed(0);
  auto q = lowbit::quant::make("rebnn", {{"channels", 4096}});
  const auto params = q->named_parameters();
  ASSERT_EQ(params.size(), 1u);
  const auto s = params["scaling_factor"];
  EXPECT_EQ(s.sizes(), (std::vector<int64_t>{4096, 1, 1, 1}));
  EXPECT_NEAR(s.mean().item<double>(), 0.0, 0.05);
  EXPECT_NEAR(s.std().item<double>(), 1.0, 0.05);
  EXPECT_EQ(q->named_buffers().size(), 0u);  // official_constant keeps no state
  EXPECT_EQ(q->bits(), 1);
}

TEST(ReBnn, ForwardValuesAreKappaTimesAbsScale) {
  auto q = make_rebnn(4, {-1.5, 0.5, 0.0, 2.0});
  const auto w = torch::tensor({{0.3, -0.1, 0.0}, {-0.7, 0.2, 9.0}, {1.0, -1.0, 0.5}, {-3.0, 0.0, 0.4}}, torch::kDouble)
                     .view({4, 3, 1, 1});
  const auto y = q(w);
  const auto a = torch::tensor({1.5, 0.5, 0.0, 2.0}, torch::kDouble);
  for (int64_t c = 0; c < 4; ++c) {
    for (int64_t i = 0; i < 3; ++i) {
      const double wi = w[c][i].item<double>(), yi = y[c][i].item<double>(), level = kRebnnKappa * a[c].item<double>();
      EXPECT_EQ(yi, wi > 0 ? level : wi < 0 ? -level : 0.0) << c << "," << i;
    }
  }
}

TEST(ReBnn, ApproxSignActivationGradient) {
  // ReBNN's activation binarizer is RSign (threshold 0 at init) with the ApproxSign backward.
  lowbit::quant::RSign rsign(7);
  auto x = torch::tensor({-0.5, 0.5, 0.0, -1.0, 1.0, 1.5, -2.0}, torch::kDouble).view({1, 7}).requires_grad_(true);
  rsign->to(torch::kDouble);
  const auto y = rsign(x);
  EXPECT_TRUE(torch::equal(y, x.detach().sign()));
  y.sum().backward();
  EXPECT_TRUE(torch::equal(x.grad().flatten(), torch::tensor({1.0, 1.0, 2.0, 0.0, 0.0, 0.0, 0.0}, torch::kDouble)));
}

TEST(ReBnn, ZeroUpstreamGradientIsTheWeightedReconstructionGradient) {
  auto q = make_rebnn(2);
  auto w = torch::tensor({{0.3, -0.1, 0.0, 5.0}, {-0.7, 0.2, -2.0, 0.05}}, torch::kDouble).view({2, 4, 1, 1});
  w.requires_grad_(true);
  (q(w) * 0).sum().backward();
  const double gamma = 2e-4;
  const auto alpha = alpha_of(q);
  const auto b = kRebnnKappa * w.detach().sign();
  const auto r = w.detach() - alpha * b;
  EXPECT_TRUE(torch::allclose(w.grad(), gamma * r));
  EXPECT_TRUE(torch::allclose(q->scaling_factor.grad(), q->scaling_factor.detach().sign() * -gamma * channel_sum(r * b)));
  // = autograd of (gamma/2) ||W - alpha kappa sign W||^2 w.r.t. W and alpha, sign(W) held constant.
  auto w2 = w.detach().clone().requires_grad_(true);
  auto alpha2 = alpha.clone().requires_grad_(true);
  (gamma / 2 * (w2 - alpha2 * b).pow(2)).sum().backward();
  EXPECT_TRUE(torch::allclose(w.grad(), w2.grad()));
  EXPECT_TRUE(torch::allclose(q->scaling_factor.grad(), q->scaling_factor.detach().sign() * alpha2.grad()));
}

TEST(ReBnn, ZeroGammaGivesAlphaTimesUpstreamAndSignedScaleGradient) {
  auto q = make_rebnn(ReBnnOptions(2).gamma(0));
  auto w = torch::tensor({{0.3, -0.1, 0.0, 5.0}, {-0.7, 0.2, -2.0, 0.05}}, torch::kDouble).view({2, 4, 1, 1});
  w.requires_grad_(true);
  const auto g = torch::tensor({{1.0, -2.0, 0.5, 3.0}, {0.25, 1.0, -1.0, 2.0}}, torch::kDouble).view({2, 4, 1, 1});
  (q(w) * g).sum().backward();
  EXPECT_TRUE(torch::allclose(w.grad(), alpha_of(q) * g));
  EXPECT_EQ(w.grad()[0][3].item<double>(), 1.5 * 3.0);  // W = 5 still gets gradient (no clip)
  const auto d_alpha = channel_sum(g * w.detach());  // sum g W, with the latent W
  // dL/ds = sign(s) dL/dalpha: s_0 = -1.5 flips the sign of channel 0.
  EXPECT_TRUE(torch::allclose(q->scaling_factor.grad(), torch::tensor({-1.0, 1.0}, torch::kDouble).view({2, 1, 1, 1}) * d_alpha));
  EXPECT_NE(d_alpha[0].item<double>(), 0.0);
}

TEST(ReBnn, OfficialConstantGammaIsTwoEMinusFourWhateverFlipsAndGradients) {
  // Step 1 (p = 0: no previous weights) and step 2 (every sign flipped, max |g| = 1e3: p = 1e3),
  // through an optimizer: gamma read back from dL/dW is 2e-4 in both.
  auto q = make_rebnn(2);
  const auto w0 = torch::tensor({{0.3, -0.1, 0.2, 5.0}, {-0.7, 0.2, -2.0, 0.05}}, torch::kDouble).view({2, 4, 1, 1});
  auto w = w0.clone().requires_grad_(true);
  torch::optim::SGD optimizer({w}, torch::optim::SGDOptions(1.0));
  const auto g = torch::full({2, 4, 1, 1}, 1e3, torch::kDouble);
  for (int step = 0; step < 2; ++step) {
    const auto loss = (q(w) * g).sum();
    optimizer.zero_grad();
    loss.backward();
    const auto gamma = gamma_from(w.grad(), w.detach(), alpha_of(q), g);
    EXPECT_TRUE(torch::allclose(gamma, torch::full({2}, 2e-4, torch::kDouble), 1e-6, 0)) << step << ": " << gamma;
    if (step == 0) {
      optimizer.step();
      EXPECT_FALSE(torch::equal(w.detach(), w0));
      set_tensor(w, -w0);  // every sign differs from step 1's
    }
  }
}

TEST(ReBnn, PaperDynamicGammaFollowsFlipsAndPreviousMaxGradientAcrossSteps) {
  // Two channels of M = 4 weights, alpha = 1, L = sum(W_hat * G), SGD lr 1 on W only.
  auto q = make_rebnn(ReBnnOptions(2).gamma_mode(GammaMode::PaperDynamic).clamp_gamma(false));
  set_tensor(q->scaling_factor, torch::tensor({1.0, 1.0}, torch::kDouble));
  auto w = torch::tensor({{0.1, 0.2, -0.3, 0.4}, {0.5, -0.6, 0.7, 0.8}}, torch::kDouble).view({2, 4, 1, 1});
  w.requires_grad_(true);
  torch::optim::SGD optimizer({w}, torch::optim::SGDOptions(1.0));
  const auto alpha = torch::ones({2, 1, 1, 1}, torch::kDouble);

  // Step 1: no previous sign -> gamma = 0, dL/dW = alpha G exactly. G1 flips 2 of 4 signs in
  // channel 0 (0.1 -> -0.4, 0.2 -> -0.1) and none in channel 1; max |G1| = [0.5, 0.05].
  const auto g1 = torch::tensor({{0.5, 0.3, 0.0, 0.0}, {0.05, 0.02, 0.0, 0.03}}, torch::kDouble).view({2, 4, 1, 1});
  auto loss = (q(w) * g1).sum();
  optimizer.zero_grad();
  loss.backward();
  EXPECT_TRUE(torch::equal(q->balanced_gamma, torch::zeros({2}, torch::kDouble)));
  EXPECT_TRUE(torch::allclose(w.grad(), alpha * g1));
  EXPECT_TRUE(torch::allclose(q->previous_grad_max, torch::tensor({0.5, 0.05}, torch::kDouble)));
  optimizer.step();

  // Step 2: gamma = (k/M) max |G1| = [2/4 * 0.5, 0/4 * 0.05] = [0.25, 0].
  const auto g2 = torch::tensor({{1.0, -1.0, 0.5, 0.25}, {0.5, 0.5, -0.5, 2.0}}, torch::kDouble).view({2, 4, 1, 1});
  loss = (q(w) * g2).sum();
  optimizer.zero_grad();
  loss.backward();
  const auto expected = torch::tensor({0.25, 0.0}, torch::kDouble);
  EXPECT_TRUE(torch::allclose(q->balanced_gamma, expected));
  const auto r = w.detach() - alpha * kRebnnKappa * w.detach().sign();
  EXPECT_TRUE(torch::allclose(w.grad(), expected.view({2, 1, 1, 1}) * r + alpha * g2));
  EXPECT_TRUE(torch::allclose(q->previous_grad_max, torch::tensor({1.0, 2.0}, torch::kDouble)));
  optimizer.step();

  // Step 3: W2 = W1 - (gamma r + G2) flips channel 0 once (-0.1 -> 0.92) and channel 1 twice
  // (0.45 -> -0.05, 0.77 -> -1.23); max |G2| = [1, 2]: gamma = [1/4 * 1, 2/4 * 2].
  loss = (q(w) * g2).sum();
  optimizer.zero_grad();
  loss.backward();
  EXPECT_TRUE(torch::allclose(q->balanced_gamma, torch::tensor({0.25, 1.0}, torch::kDouble)));

  // An eval-mode forward leaves the state alone.
  q->eval();
  const auto before = q->previous_sign.clone();
  q(w * -1);
  EXPECT_TRUE(torch::equal(q->previous_sign, before));
}

TEST(ReBnn, PaperDynamicGammaIsClampedToTheOfficialThresholds) {
  auto q = make_rebnn(ReBnnOptions(2).gamma_mode(GammaMode::PaperDynamic));
  auto w = torch::tensor({{0.1, 0.2, -0.3, 0.4}, {0.5, -0.6, 0.7, 0.8}}, torch::kDouble).view({2, 4, 1, 1});
  w.requires_grad_(true);
  torch::optim::SGD optimizer({w}, torch::optim::SGDOptions(1.0));
  const auto g1 = torch::tensor({{0.5, 0.3, 0.0, 0.0}, {0.05, 0.02, 0.0, 0.03}}, torch::kDouble).view({2, 4, 1, 1});
  auto loss = (q(w) * g1 / 1.5).sum();  // / alpha_0, so that channel 0 moves as in the unclamped test
  optimizer.zero_grad();
  loss.backward();
  EXPECT_TRUE(torch::allclose(q->balanced_gamma, torch::full({2}, 1e-5, torch::kDouble)));  // 0 -> 1e-5
  optimizer.step();
  loss = (q(w) * g1).sum();
  optimizer.zero_grad();
  loss.backward();
  // Unclamped [0.5 * 0.5 / 1.5, 0]: clamped to [2e-4, 1e-5].
  EXPECT_TRUE(torch::allclose(q->balanced_gamma, torch::tensor({2e-4, 1e-5}, torch::kDouble)));
  const auto gamma = gamma_from(w.grad(), w.detach(), alpha_of(q), g1);
  EXPECT_TRUE(torch::allclose(gamma, torch::tensor({2e-4, 1e-5}, torch::kDouble), 1e-6, 0)) << gamma;
}

TEST(ReBnn, PaperDynamicStateRoundTripsThroughSaveAndLoad) {
  auto q = make_rebnn(ReBnnOptions(2).gamma_mode(GammaMode::PaperDynamic));
  auto w = torch::randn({2, 3, 3, 3}, torch::kDouble).requires_grad_(true);
  q(w).pow(2).sum().backward();
  ASSERT_EQ(q->previous_sign.sizes(), w.sizes());
  std::stringstream stream;
  torch::save(q, stream);
  ReBnn restored(ReBnnOptions(2).gamma_mode(GammaMode::PaperDynamic));
  restored->to(torch::kDouble);
  torch::load(restored, stream);
  EXPECT_TRUE(torch::equal(restored->previous_sign, q->previous_sign));
  EXPECT_TRUE(torch::equal(restored->previous_grad_max, q->previous_grad_max));
  EXPECT_TRUE(torch::equal(restored->scaling_factor, q->scaling_factor));
}

TEST(ReBnn, StageOneCheckpointLoadsWeightsAndLeavesTheScaleAtItsInit) {
  // Stage 1 (ReActNet step 1): real-valued weights, binary activations; stage 2 adds rebnn.
  lowbit::models::QuantPolicy stage1, stage2;
  stage1.input = stage2.input = {"rsign", {}};
  stage2.weight = {"rebnn", {}};
  const lowbit::Params arch{{"channels", std::vector<int64_t>{4, 8}}};
  torch::manual_seed(1);
  auto real = lowbit::models::make("small_cnn", arch, stage1);
  auto binary = lowbit::models::make("small_cnn", arch, stage2);
  lowbit::engine::NamedTensors state;
  for (const auto& p : real->named_parameters()) state.insert(p.key(), torch::randn_like(p.value()));
  for (const auto& b : real->named_buffers()) state.insert(b.key(), b.value().clone());
  const auto scale_name = "4.weight_quantizer.scaling_factor";
  const auto scale_before = binary->named_parameters()[scale_name].clone();

  const auto report = lowbit::engine::load_into(*binary, state, lowbit::engine::LoadOptions().strict(false));
  EXPECT_EQ(report.missing, std::vector<std::string>{scale_name});
  EXPECT_TRUE(report.unexpected.empty());
  EXPECT_TRUE(torch::equal(binary->named_parameters()["4.weight"], state["4.weight"]));
  EXPECT_TRUE(torch::equal(binary->named_parameters()[scale_name], scale_before));
  // As the official stage 2 loads with strict=False: a strict load names the scale.
  const auto msg = error_of([&] { lowbit::engine::load_into(*binary, state); });
  EXPECT_NE(msg.find(scale_name), std::string::npos) << msg;
}

TEST(ReBnn, BadOptionsAreNamed) {
  using lowbit::quant::make;
  auto msg = error_of([] { make("rebnn", {{"channels", 4}, {"kappa", 0.0}}); });
  EXPECT_NE(msg.find("rebnn: kappa must be > 0, got 0"), std::string::npos) << msg;
  msg = error_of([] { make("rebnn", {{"channels", 4}, {"kappa", -1.0}}); });
  EXPECT_NE(msg.find("rebnn: kappa must be > 0, got -1"), std::string::npos) << msg;
  msg = error_of([] { make("rebnn", {{"channels", 4}, {"gamma", -2e-4}}); });
  EXPECT_NE(msg.find("rebnn: gamma must be >= 0, got -0.0002"), std::string::npos) << msg;
  msg = error_of([] { make("rebnn", {{"channels", 4}, {"gamma_min", 1e-3}}); });
  EXPECT_NE(msg.find("rebnn: needs 0 <= gamma_min <= gamma_max, got gamma_min 0.001, gamma_max 0.0002"),
            std::string::npos)
      << msg;
  msg = error_of([] { make("rebnn", {{"channels", 4}, {"gamma_mode", "paper"}}); });
  EXPECT_NE(msg.find("unknown rebnn gamma_mode 'paper'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("official_constant, paper_dynamic"), std::string::npos) << msg;
  msg = error_of([] { make("rebnn", {{"channels", 0}}); });
  EXPECT_NE(msg.find("rebnn: channels must be >= 1, got 0"), std::string::npos) << msg;
  msg = error_of([] { make("rebnn"); });
  EXPECT_NE(msg.find("missing option 'channels'"), std::string::npos) << msg;
  msg = error_of([] {
    lowbit::layers::QConv2d(lowbit::layers::QConv2dOptions(3, 8, 3).weight_quantizer(ReBnn(4)));
  });
  EXPECT_NE(msg.find("QConv2d(3->8, 3x3): weight quantizer: rebnn: scaling_factor has 4 channels, but the weight has "
                     "shape [8, 3, 3, 3]"),
            std::string::npos)
      << msg;
}

TEST(MethodTraining, Rebnn) {
  lowbit::models::QuantPolicy policy;
  policy.weight = {"rebnn", {}};
  policy.input = {"rsign", {}};
  torch::manual_seed(0);
  auto model = lowbit::models::make("small_cnn", {{"channels", std::vector<int64_t>{16, 32, 64}}}, policy);
  const auto result = lowbit::testing::fit_fashion_mnist(model, lowbit::testing::FitOptions().steps(300));
  std::cout << "rebnn small_cnn: " << result << "\n";
  EXPECT_LT(result.last_loss, 0.6 * result.first_loss);
  EXPECT_GT(result.test_accuracy, 0.65);  // chance is 0.10
}
