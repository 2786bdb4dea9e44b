// Loss scaling and the quantizers whose backward adds terms or records state of its own
// (csrc/ops/loss_scale.h): steps through OptimStep with loss scaling on (S = 65536) and off give
// the same parameters and the same recorded state, for ReBNN (paper_dynamic: gamma from the
// recorded gradient maxima), RBONN (the lambda term and the recorded previous gradient) and IDa-Det.
#include <lowbit/csrc/engine/optim/optim_step.h>
#include <lowbit/csrc/ops/loss_scale.h>
#include <lowbit/lowbit.h>

#include <gtest/gtest.h>

#include <string>
#include <tuple>
#include <vector>

#include <torch/torch.h>

namespace {

struct Steps {
  std::vector<torch::Tensor> parameters, buffers;
};

lowbit::layers::QConv2d seeded_conv(const std::string& quantizer, const lowbit::Params& params) {
  torch::manual_seed(0);
  return lowbit::layers::QConv2d(
      lowbit::layers::QConv2dOptions(4, 8, 3).padding(1).weight_quantizer(lowbit::quant::make(quantizer, params)));
}

// A binarized convolution with `quantizer`, its SGD through OptimStep (loss scaling on or off) and
// fixed data.
struct Trainee {
  lowbit::layers::QConv2d conv;
  torch::optim::SGD sgd;
  lowbit::engine::OptimStep optim_step;
  torch::Tensor x, target;

  Trainee(const std::string& quantizer, const lowbit::Params& params, bool scaled)
      : conv(seeded_conv(quantizer, params)),
        sgd(conv->parameters(), torch::optim::SGDOptions(0.05).momentum(0.9)),
        optim_step(sgd, conv->parameters(), 0.0, /*amp=*/scaled),
        x(torch::randn({6, 4, 7, 7})),
        target(torch::randn({6, 8, 7, 7})) {
    conv->train();
  }

  // One step on the loss times `factor`; whether the optimizer stepped.
  bool step(double factor = 1) {
    const bool stepped = optim_step((conv(x) - target).pow(2).mean() * factor);
    lowbit::hooks::end_step(*conv);
    return stepped;
  }
};

// Three optimizer steps.
Steps train(const std::string& quantizer, const lowbit::Params& params, bool scaled) {
  Trainee t(quantizer, params, scaled);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(t.step());
  Steps out;
  for (const auto& p : t.conv->parameters()) out.parameters.push_back(p.detach().clone());
  for (const auto& b : t.conv->buffers()) out.buffers.push_back(b.detach().clone());
  return out;
}

void expect_scaling_changes_nothing(const std::string& quantizer, const lowbit::Params& params, bool records_state) {
  SCOPED_TRACE(quantizer);
  const auto plain = train(quantizer, params, false), scaled = train(quantizer, params, true);
  ASSERT_EQ(plain.parameters.size(), scaled.parameters.size());
  ASSERT_EQ(plain.buffers.size(), scaled.buffers.size());
  // S is a power of two: scaling and unscaling are exact, so the runs agree to the last bit but
  // for sums whose order the scale does not change either.
  for (size_t i = 0; i < plain.parameters.size(); ++i) {
    EXPECT_TRUE(torch::allclose(plain.parameters[i], scaled.parameters[i], 1e-6, 1e-7)) << "parameter " << i;
  }
  int64_t compared = 0;
  for (size_t i = 0; i < plain.buffers.size(); ++i) {
    if (!plain.buffers[i].is_floating_point() || plain.buffers[i].numel() == 0) continue;
    EXPECT_TRUE(torch::allclose(plain.buffers[i], scaled.buffers[i], 1e-6, 1e-9)) << "buffer " << i;
    ++compared;
  }
  EXPECT_EQ(compared > 0, records_state);
}

}  // namespace

TEST(LossScale, ReBnnDynamicGammaSameUpdateAndRecordedMaxima) {
  expect_scaling_changes_nothing("rebnn", {{"channels", 8}, {"gamma_mode", "paper_dynamic"}, {"clamp_gamma", false}},
                                 true);
}

TEST(LossScale, RbonnSameUpdateAndRecordedGradient) {
  // lambda 0.1 (1e-4 by default): a term the scaling would visibly shrink.
  expect_scaling_changes_nothing("rbonn", {{"channels", 8}, {"lambda", 0.1}}, true);
}

TEST(LossScale, IdaDetSameUpdate) { expect_scaling_changes_nothing("idadet", {{"channels", 8}, {"mu", 0.1}}, false); }

TEST(LossScale, GuardSetsAndRestoresTheScale) {
  EXPECT_EQ(lowbit::ops::loss_scale(), 1.0);
  {
    const lowbit::ops::LossScaleGuard outer(1024);
    EXPECT_EQ(lowbit::ops::loss_scale(), 1024.0);
    {
      const lowbit::ops::LossScaleGuard inner(2);
      EXPECT_EQ(lowbit::ops::loss_scale(), 2.0);
    }
    EXPECT_EQ(lowbit::ops::loss_scale(), 1024.0);
  }
  EXPECT_EQ(lowbit::ops::loss_scale(), 1.0);
  EXPECT_THROW(lowbit::ops::LossScaleGuard(0.0), c10::ValueError);
}

// A step whose scaled backward overflows is skipped by the scaler, and the state the quantizers
// record from its gradient is dropped with it: the last finite record stays (ReBNN's gradient
// maxima, RBONN's previous gradient), and the steps after it train.
TEST(LossScale, AnOverflowedStepLeavesNoInfinityInTheRecordedState) {
  const std::vector<std::tuple<std::string, lowbit::Params, std::string>> quantizers = {
      {"rebnn", {{"channels", 8}, {"gamma_mode", "paper_dynamic"}, {"clamp_gamma", false}}, "previous_grad_max"},
      {"rbonn", {{"channels", 8}, {"lambda", 0.1}}, "previous_grad"}};
  for (const auto& [quantizer, params, recorded] : quantizers) {
    SCOPED_TRACE(quantizer);
    Trainee t(quantizer, params, /*scaled=*/true);
    const auto record = [&] { return t.conv->named_buffers()["weight_quantizer." + recorded].detach().clone(); };
    for (int i = 0; i < 2; ++i) ASSERT_TRUE(t.step());
    const auto before = record();
    ASSERT_GT(before.abs().sum().item<double>(), 0.0);
    // 1e36 times the loss, times the scale 65536: beyond float's range in the backward.
    EXPECT_FALSE(t.step(1e36));
    EXPECT_TRUE(torch::equal(record(), before));
    EXPECT_TRUE(t.step());
    EXPECT_FALSE(torch::equal(record(), before));
    for (const auto& p : t.conv->parameters()) EXPECT_TRUE(torch::isfinite(p).all().item<bool>());
    for (const auto& b : t.conv->buffers()) {
      if (b.is_floating_point()) EXPECT_TRUE(torch::isfinite(b).all().item<bool>());
    }
  }
}
