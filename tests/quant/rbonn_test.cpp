// RBONN's weight binarizer (modules/quant/rbonn.h): the checklist of the method's spec across
// optimizer steps (first step plain, then W~ = W - u m G_prev with G_prev recorded in backward),
// the DReLU indicator, gradients of W and u, the 0.1x learning rate of u, stage-1 loading, options
// and a training run.
#include <lowbit/csrc/engine/checkpoint/load_state.h>
#include <lowbit/csrc/engine/build.h>
#include <lowbit/csrc/engine/optim/optimizer.h>
#include <lowbit/csrc/engine/recipe/recipe.h>
#include <lowbit/csrc/ops/bilinear_sign.h>
#include <lowbit/modules/layers/qconv2d.h>
#include <lowbit/modules/models/registry.h>
#include <lowbit/modules/quant/rbonn.h>
#include <lowbit/modules/quant/registry.h>

#include "support/error_of.h"
#include "support/fashion_fit.h"
#include "support/gradcheck.h"
#include "support/temp_dir.h"

#include <gtest/gtest.h>

#include <torch/torch.h>

#include <algorithm>
#include <sstream>

using lowbit::quant::DreluSelect;
using lowbit::quant::Rbonn;
using lowbit::quant::RbonnOptions;
using lowbit::testing::error_of;

namespace {

constexpr double kKappa = 0.02;

void set(torch::Tensor& target, const torch::Tensor& value) {
  torch::NoGradGuard no_grad;
  target.copy_(value.view(target.sizes()));
}

// Four channels, alpha = |s| = [0.3, 0.1, 0.4, 0.2]; with tau = 0.5, K = 2 and the official
// indicator is m = [1, 0, 1, 0]. Double precision.
Rbonn make_rbonn(RbonnOptions options) {
  Rbonn q(options.tau(0.5));
  q->to(torch::kDouble);
  set(q->scale_factor, torch::tensor({-0.3, 0.1, 0.4, -0.2}, torch::kDouble));
  set(q->u, torch::tensor({0.2, 0.3, 0.5, 0.7}, torch::kDouble));
  return q;
}
const auto kOfficialM = torch::tensor({1.0, 0.0, 1.0, 0.0}, torch::kDouble).view({4, 1, 1, 1});

torch::Tensor rbonn_weights() {
  return torch::tensor({{0.3, -0.1, 0.0}, {-0.7, 0.2, 5.0}, {0.05, -0.4, 0.6}, {-2.0, 0.5, 0.25}}, torch::kDouble)
      .view({4, 3, 1, 1});
}
const auto kG1 = torch::tensor({{1.0, -2.0, 0.5}, {3.0, 0.25, 1.0}, {-1.0, 2.0, 4.0}, {0.5, 0.5, -3.0}}, torch::kDouble)
                     .view({4, 3, 1, 1});
const auto kG2 = torch::tensor({{-0.5, 1.0, 2.0}, {1.0, -1.0, 0.5}, {2.0, 0.25, -1.0}, {1.0, 3.0, 0.5}}, torch::kDouble)
                     .view({4, 3, 1, 1});

// One step of the Trainer's order (forward, zero_grad, backward, step) on L = sum(W_hat * G).
void step(Rbonn& q, torch::Tensor& w, torch::optim::Optimizer& optimizer, const torch::Tensor& upstream) {
  const auto loss = (q(w) * upstream).sum();
  optimizer.zero_grad();
  loss.backward();
  optimizer.step();
}

torch::Tensor alpha_of(const Rbonn& q) { return q->scale_factor.detach().abs(); }

torch::Tensor expected_recurrent_weight(const Rbonn& q, const torch::Tensor& w, const torch::Tensor& m) {
  return w.detach() - q->u.detach() * (m * q->previous_grad);
}

}  // namespace

TEST(Rbonn, ParametersHaveOfficialNamesShapesAndInits) {
  torch::manual_seed(0);
  auto q = lowbit::quant::make("rbonn", {{"channels", 4096}});
  const auto params = q->named_parameters();
  ASSERT_EQ(params.size(), 2u);
  EXPECT_EQ(params["scale_factor"].sizes(), (std::vector<int64_t>{4096, 1, 1, 1}));
  EXPECT_NEAR(params["scale_factor"].mean().item<double>(), 0.0, 0.05);
  EXPECT_NEAR(params["scale_factor"].std().item<double>(), 1.0, 0.05);
  EXPECT_TRUE(torch::equal(params["u"], torch::full({4096, 1, 1, 1}, 0.2)));
  EXPECT_EQ(q->named_buffers()["previous_grad"].numel(), 0);
}

TEST(Rbonn, DreluIndicatorOfficialExample) {
  const auto alpha = torch::tensor({0.3, 0.1, 0.4, 0.2});
  // argsort = [1, 3, 0, 2], K = int(4 * 0.5) = 2: official m_k = 1[idx_k < 2]; paper: 2 smallest alpha.
  EXPECT_TRUE(torch::equal(lowbit::quant::drelu_indicator(alpha, 0.5, DreluSelect::OfficialArgsort),
                           torch::tensor({1.0f, 0.0f, 1.0f, 0.0f})));
  EXPECT_TRUE(torch::equal(lowbit::quant::drelu_indicator(alpha, 0.5, DreluSelect::PaperRank),
                           torch::tensor({0.0f, 1.0f, 0.0f, 1.0f})));
}

TEST(Rbonn, DreluIndicatorHasExactlyKOnesAndPaperRankPicksTheSmallest) {
  EXPECT_EQ(lowbit::quant::drelu_count(64, 0.6), 25);  // int(64 * 0.4) = int(25.6)
  EXPECT_EQ(lowbit::quant::drelu_count(10, 0.6), 4);
  EXPECT_EQ(lowbit::quant::drelu_count(512, 1.0), 0);
  torch::manual_seed(3);
  for (int64_t c : {1, 5, 64, 100}) {
    for (double tau : {0.25, 0.6, 0.9, 1.0}) {
      const auto alpha = torch::randn({c, 1, 1, 1}).abs();
      const int64_t k = static_cast<int64_t>(static_cast<double>(c) * (1.0 - tau));
      for (auto select : {DreluSelect::OfficialArgsort, DreluSelect::PaperRank}) {
        const auto m = lowbit::quant::drelu_indicator(alpha, tau, select);
        EXPECT_EQ(m.sizes(), (std::vector<int64_t>{c}));
        EXPECT_EQ(m.sum().item<double>(), static_cast<double>(k)) << c << " " << tau;
      }
      const auto m = lowbit::quant::drelu_indicator(alpha, tau, DreluSelect::PaperRank).to(torch::kBool);
      const auto a = alpha.flatten();
      if (k > 0 && k < c) {
        EXPECT_LT(a.masked_select(m).max().item<double>(), a.masked_select(~m).min().item<double>()) << c << " " << tau;
      }
    }
  }
}

TEST(Rbonn, FirstStepIsPlainAndTheSecondBacktracksWithTheRecordedGradient) {
  auto q = make_rbonn(4);
  auto w = rbonn_weights().requires_grad_(true);
  torch::optim::SGD optimizer({w}, torch::optim::SGDOptions(0.1));
  const double lambda = 1e-4;

  // Step 1: nothing recorded yet, W~ = W; the backward records the full dL/dW (lambda term included).
  EXPECT_TRUE(torch::equal(q(w), lowbit::ops::bilinear_sign(w, q->scale_factor, lambda)));
  step(q, w, optimizer, kG1);
  EXPECT_TRUE(torch::equal(q->previous_grad, w.grad()));
  EXPECT_FALSE(q->u.grad().defined());  // u is not used in the first step
  const auto g_prev = q->previous_grad.clone();

  // Step 2, with .grad cleared before the forward (the official code would skip its recurrent step):
  // W~ = W - u m G_prev, only channels with m = 1 move.
  optimizer.zero_grad();
  ASSERT_TRUE(torch::equal(q->previous_grad, g_prev));
  const auto w_tilde = expected_recurrent_weight(q, w, kOfficialM);
  const auto y = q(w);
  // Values in {-kappa alpha_c, 0, +kappa alpha_c}, from the signs of W~.
  EXPECT_TRUE(torch::equal(y, w_tilde.sign() * kKappa * alpha_of(q)));
  EXPECT_FALSE(torch::equal(w_tilde.sign(), w.detach().sign()));  // the backtrack flipped a sign
  (y * kG2).sum().backward();

  // dL/dW = dL/dW~ = lambda (W~ - alpha kappa sign W~) + alpha g.
  const auto alpha = alpha_of(q);
  const auto d_w = lambda * (w_tilde - alpha * kKappa * w_tilde.sign()) + alpha * kG2;
  EXPECT_TRUE(torch::allclose(w.grad(), d_w));
  // dL/du_c = -sum dL/dW~ m_c G_prev.
  EXPECT_TRUE(torch::allclose(q->u.grad(), -(d_w * kOfficialM * g_prev).sum({1, 2, 3}, true)));
  EXPECT_TRUE(torch::equal(q->u.grad()[1], torch::zeros({1, 1, 1}, torch::kDouble)));
  // The buffer now holds step 2's gradient.
  EXPECT_TRUE(torch::equal(q->previous_grad, w.grad()));
}

TEST(Rbonn, RecurrentWeightGradientMatchesFiniteDifferences) {
  auto q = make_rbonn(4);
  auto w = rbonn_weights().requires_grad_(true);
  torch::optim::SGD optimizer({w}, torch::optim::SGDOptions(0.1));
  step(q, w, optimizer, kG1);
  const auto g_prev = q->previous_grad.clone();
  optimizer.zero_grad();
  (q(w) * kG2).sum().backward();
  // dL/du through W~(u), with dL/dW~ (= dL/dW) fixed: d/du sum(W~(u) * dL/dW~).
  const auto d_w_tilde = w.grad().clone();
  const auto u0 = q->u.detach().clone();
  q->previous_grad.copy_(g_prev);  // W~ as in this step's forward
  const auto numeric = lowbit::testing::numerical_gradient(
      [&](const torch::Tensor& u) {
        set(q->u, u);
        return (expected_recurrent_weight(q, w, kOfficialM) * d_w_tilde).sum();
      },
      u0);
  set(q->u, u0);
  EXPECT_TRUE(torch::allclose(q->u.grad(), numeric, 1e-6, 1e-9)) << q->u.grad() << numeric;
  EXPECT_NE(q->u.grad()[0].item<double>(), 0.0);
}

TEST(Rbonn, EvalModeTauOneAndRecurrentOffUseW) {
  for (int variant = 0; variant < 3; ++variant) {
    RbonnOptions options(4);
    if (variant == 2) options.recurrent(false);
    auto q = make_rbonn(options);
    if (variant == 1) q->options.tau(1.0);  // K = int(4 * 0) = 0
    auto w = rbonn_weights().requires_grad_(true);
    torch::optim::SGD optimizer({w}, torch::optim::SGDOptions(0.1));
    step(q, w, optimizer, kG1);
    step(q, w, optimizer, kG2);
    // A training forward backtracks (u gets a gradient) only in variant 0; eval mode never does.
    const auto u_grad = torch::autograd::grad({(q(w) * kG1).sum()}, {q->u}, {}, false, false, true)[0];
    EXPECT_EQ(u_grad.defined() && u_grad.abs().sum().item<double>() > 0, variant == 0) << variant;
    if (variant == 0) q->eval();
    EXPECT_TRUE(torch::equal(q(w), lowbit::ops::bilinear_sign(w, q->scale_factor, 1e-4))) << variant;
    EXPECT_EQ(q->previous_grad.numel(), variant == 2 ? 0 : w.numel()) << variant;
  }
}

TEST(Rbonn, ZeroUpstreamGradientIsLambdaReconstructionOfTheRecurrentWeight) {
  auto q = make_rbonn(4);
  auto w = rbonn_weights().requires_grad_(true);
  torch::optim::SGD optimizer({w}, torch::optim::SGDOptions(0.1));
  step(q, w, optimizer, kG1);
  const auto w_tilde = expected_recurrent_weight(q, w, kOfficialM);
  optimizer.zero_grad();
  (q(w) * 0).sum().backward();
  EXPECT_TRUE(torch::allclose(w.grad(), 1e-4 * (w_tilde - alpha_of(q) * kKappa * w_tilde.sign())));
}

TEST(Rbonn, ZeroLambdaGivesAlphaTimesUpstreamWithoutClip) {
  auto q = make_rbonn(RbonnOptions(4).lambda(0));
  auto w = rbonn_weights().requires_grad_(true);
  torch::optim::SGD optimizer({w}, torch::optim::SGDOptions(0.1));
  step(q, w, optimizer, kG1);
  optimizer.zero_grad();
  (q(w) * kG2).sum().backward();
  EXPECT_TRUE(torch::allclose(w.grad(), alpha_of(q) * kG2));
  EXPECT_GT(std::abs(w.detach()[1][2].item<double>()), 1.0);  // |W| > 1 still gets gradient
  EXPECT_NEAR(w.grad()[1][2].item<double>(), 0.1 * 0.5, 1e-15);
}

TEST(Rbonn, ZeroUIsPlainBilinearBinarization) {
  auto q = make_rbonn(4);
  set(q->u, torch::zeros({4}, torch::kDouble));
  auto w = rbonn_weights().requires_grad_(true);
  torch::optim::SGD optimizer({w}, torch::optim::SGDOptions(0.1));
  step(q, w, optimizer, kG1);
  EXPECT_TRUE(torch::equal(q(w), lowbit::ops::bilinear_sign(w, q->scale_factor, 1e-4)));
}

TEST(Rbonn, RecurrentWeightsTrainAtATenthOfTheLearningRateInTheRecipeGroup) {
  lowbit::testing::TempDir dir;
  dir.write("r.yaml",
            "name: r\ndata: {dataset: fashion_mnist}\n"
            "model: {name: small_cnn, channels: [4, 8, 8], weight_quantizer: {name: rbonn}, input_quantizer: {name: rsign}}\n"
            "stages:\n  - optimizer: {name: sgd, lr: 0.1, momentum: 0, groups: [{pattern: '\\.u$', lr_scale: 0.1}]}\n");
  const auto recipe = lowbit::engine::parse_recipe(dir.file("r.yaml"));
  ASSERT_EQ(recipe.stages[0].optimizer.groups.size(), 1u);
  EXPECT_EQ(recipe.stages[0].optimizer.groups[0].pattern, "\\.u$");
  torch::manual_seed(0);
  auto model = lowbit::engine::build_network(recipe, 0);
  auto built = lowbit::engine::make_optimizer(recipe.stages[0].optimizer, model->named_parameters());
  auto& groups = built.optimizer->param_groups();
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_DOUBLE_EQ(groups[0].options().get_lr(), 0.01);
  EXPECT_DOUBLE_EQ(groups[1].options().get_lr(), 0.1);
  std::vector<torch::Tensor> us;
  for (const auto& p : model->named_parameters()) {
    if (p.key().size() > 2 && p.key().substr(p.key().size() - 2) == ".u") us.push_back(p.value());
  }
  ASSERT_EQ(us.size(), 2u);  // the two inner convolutions
  ASSERT_EQ(groups[0].params().size(), us.size());
  for (size_t i = 0; i < us.size(); ++i) EXPECT_TRUE(groups[0].params()[i].is_same(us[i]));

  const auto images = torch::randn({8, 1, 28, 28});
  const auto labels = torch::randint(10, {8});
  const auto s = model->named_parameters()["4.weight_quantizer.scale_factor"];
  for (int i = 0; i < 2; ++i) {
    const auto loss = torch::nn::functional::cross_entropy(model->forward(images), labels);
    built.optimizer->zero_grad();
    loss.backward();
    const auto u_before = us[0].detach().clone(), s_before = s.detach().clone();
    built.optimizer->step();
    if (i == 0) {
      EXPECT_FALSE(us[0].grad().defined());  // the first step has no backtrack
      continue;
    }
    EXPECT_GT(us[0].grad().abs().sum().item<double>(), 0.0);
    EXPECT_TRUE(torch::allclose(us[0].detach(), u_before - 0.01 * us[0].grad()));
    EXPECT_TRUE(torch::allclose(s.detach(), s_before - 0.1 * s.grad()));
  }
}

TEST(Rbonn, PreviousGradientRoundTripsThroughSaveAndLoad) {
  auto q = make_rbonn(4);
  auto w = rbonn_weights().requires_grad_(true);
  q(w).pow(2).sum().backward();
  ASSERT_EQ(q->previous_grad.sizes(), w.sizes());
  std::stringstream stream;
  torch::save(q, stream);
  Rbonn restored(RbonnOptions(4).tau(0.5));
  restored->to(torch::kDouble);
  torch::load(restored, stream);
  EXPECT_TRUE(torch::equal(restored->previous_grad, q->previous_grad));
  // The same backtracking: u's gradient through W~ = W - u m G_prev (none without G_prev).
  const auto u_grad = [&](Rbonn& r) { return torch::autograd::grad({(r(w) * kG1).sum()}, {r->u})[0]; };
  const auto restored_grad = u_grad(restored);
  EXPECT_GT(restored_grad.abs().sum().item<double>(), 0.0);
  EXPECT_TRUE(torch::equal(restored_grad, u_grad(q)));
}

TEST(Rbonn, StageOneCheckpointLoadsWeightsAndLeavesScaleAndUAtTheirInit) {
  lowbit::models::QuantPolicy stage1, stage2;
  stage1.input = stage2.input = {"rsign", {}};
  stage2.weight = {"rbonn", {}};
  const lowbit::Params arch{{"channels", std::vector<int64_t>{4, 8}}};
  torch::manual_seed(1);
  auto real = lowbit::models::make("small_cnn", arch, stage1);
  auto binary = lowbit::models::make("small_cnn", arch, stage2);
  lowbit::engine::NamedTensors state;
  for (const auto& p : real->named_parameters()) state.insert(p.key(), torch::randn_like(p.value()));
  for (const auto& b : real->named_buffers()) state.insert(b.key(), b.value().clone());
  const auto scale_before = binary->named_parameters()["4.weight_quantizer.scale_factor"].clone();

  const auto report = lowbit::engine::load_into(*binary, state, lowbit::engine::LoadOptions().strict(false));
  auto missing = report.missing;
  std::sort(missing.begin(), missing.end());
  EXPECT_EQ(missing, (std::vector<std::string>{"4.weight_quantizer.previous_grad", "4.weight_quantizer.scale_factor",
                                               "4.weight_quantizer.u"}));
  EXPECT_TRUE(torch::equal(binary->named_parameters()["4.weight"], state["4.weight"]));
  EXPECT_TRUE(torch::equal(binary->named_parameters()["4.weight_quantizer.scale_factor"], scale_before));
  EXPECT_TRUE(torch::equal(binary->named_parameters()["4.weight_quantizer.u"], torch::full({8, 1, 1, 1}, 0.2)));
}

TEST(Rbonn, BadOptionsAreNamed) {
  using lowbit::quant::make;
  for (double tau : {0.0, -0.1, 1.5}) {
    const auto msg = error_of([&] { make("rbonn", {{"channels", 4}, {"tau", tau}}); });
    EXPECT_NE(msg.find("rbonn: tau must be in (0, 1], got "), std::string::npos) << msg;
  }
  auto msg = error_of([] { make("rbonn", {{"channels", 4}, {"tau", 1.5}}); });
  EXPECT_NE(msg.find("got 1.5"), std::string::npos) << msg;
  msg = error_of([] { make("rbonn", {{"channels", 4}, {"lambda", -1e-4}}); });
  EXPECT_NE(msg.find("rbonn: lambda must be >= 0, got -0.0001"), std::string::npos) << msg;
  msg = error_of([] { make("rbonn", {{"channels", 4}, {"kappa", -0.02}}); });
  EXPECT_NE(msg.find("rbonn: kappa must be > 0, got -0.02"), std::string::npos) << msg;
  msg = error_of([] { make("rbonn", {{"channels", 4}, {"drelu_select", "paper_rnk"}}); });
  EXPECT_NE(msg.find("unknown rbonn drelu_select 'paper_rnk' (did you mean 'paper_rank'?)"), std::string::npos) << msg;
  msg = error_of([] { make("rbonn", {{"channels", 4}, {"recurrent", "yes"}}); });
  EXPECT_NE(msg.find("option 'recurrent' expects"), std::string::npos) << msg;
  msg = error_of([] {
    lowbit::layers::QConv2d(lowbit::layers::QConv2dOptions(3, 8, 3).weight_quantizer(Rbonn(4)));
  });
  EXPECT_NE(msg.find("QConv2d(3->8, 3x3): weight quantizer: rbonn: scale_factor has 4 channels, but the weight has "
                     "shape [8, 3, 3, 3]"),
            std::string::npos)
      << msg;
}

TEST(MethodTraining, Rbonn) {
  lowbit::models::QuantPolicy policy;
  policy.weight = {"rbonn", {}};
  policy.input = {"rsign", {}};
  torch::manual_seed(0);
  auto model = lowbit::models::make("small_cnn", {{"channels", std::vector<int64_t>{16, 32, 64}}}, policy);
  const auto result = lowbit::testing::fit_fashion_mnist(model, lowbit::testing::FitOptions().steps(300));
  std::cout << "rbonn small_cnn: " << result << "\n";
  EXPECT_LT(result.last_loss, 0.6 * result.first_loss);
  EXPECT_GT(result.test_accuracy, 0.65);  // chance is 0.10
  // The recurrent step ran: a backtracked channel's u moved away from 0.2.
  const auto u = model->named_parameters()["4.weight_quantizer.u"];
  EXPECT_GT((u - 0.2).abs().max().item<double>(), 0.0);
}
