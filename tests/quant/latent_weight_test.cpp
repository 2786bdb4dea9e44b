// What sign and xnor do to a layer's latent weight after every optimizer step (settle_latent,
// called through hooks::end_step): BNN's clamp to [-1, 1], XNOR-Net's centring over the input
// channels and clamp; nothing by default, nothing to full-precision layers.
#include <lowbit/modules/hooks/training_hooks.h>
#include <lowbit/modules/layers/qconv2d.h>
#include <lowbit/modules/layers/qlinear.h>
#include <lowbit/modules/models/registry.h>
#include <lowbit/modules/quant/registry.h>

#include "support/error_of.h"

#include <gtest/gtest.h>

#include <torch/torch.h>

#include <functional>
#include <map>
#include <string>
#include <tuple>
#include <vector>

using lowbit::layers::QConv2d;
using lowbit::layers::QConv2dOptions;

TEST(LatentWeight, BnnClampsTheLayersWeightAfterEachStep) {
  torch::manual_seed(0);
  const auto bnn = lowbit::quant::make("sign", {{"ste", "identity"}, {"latent_clip", 1.0}});
  QConv2d conv(QConv2dOptions(3, 4, 3).weight_quantizer(bnn));
  lowbit::layers::QLinear fc(lowbit::layers::QLinearOptions(5, 2).weight_quantizer(bnn));
  for (auto* w : {&conv->weight, &fc->weight}) {
    torch::NoGradGuard no_grad;
    w->normal_(0, 3);
  }
  const auto conv_before = conv->weight.detach().clone(), fc_before = fc->weight.detach().clone();
  ASSERT_GT(conv_before.abs().max().item<double>(), 1.0);
  lowbit::hooks::end_step(*conv);
  lowbit::hooks::end_step(*fc);
  EXPECT_TRUE(torch::equal(conv->weight, conv_before.clamp(-1, 1)));
  EXPECT_TRUE(torch::equal(fc->weight, fc_before.clamp(-1, 1)));
  EXPECT_TRUE(conv->weight.requires_grad());

  QConv2d plain(QConv2dOptions(3, 4, 3).weight_quantizer(lowbit::quant::make("sign", {{"ste", "identity"}})));
  const auto plain_before = plain->weight.detach().clone() * 5;
  {
    torch::NoGradGuard no_grad;
    plain->weight.copy_(plain_before);
  }
  lowbit::hooks::end_step(*plain);
  EXPECT_TRUE(torch::equal(plain->weight, plain_before));  // latent_clip 0: untouched
}

// XNOR-Net's meancenterConvParms (minus the mean over dim 2 of the Lua tensor, the input
// channels) then clampConvParms.
TEST(LatentWeight, XnorNetCentresOverInputChannelsThenClamps) {
  torch::manual_seed(1);
  QConv2d conv(QConv2dOptions(4, 3, 3).weight_quantizer(
      lowbit::quant::make("xnor", {{"latent_center", true}, {"latent_clip", 1.0}})));
  {
    torch::NoGradGuard no_grad;
    conv->weight.normal_(0.5, 2);
  }
  const auto w = conv->weight.detach().clone();
  lowbit::hooks::end_step(*conv);
  const auto expected = (w - w.mean(1, true)).clamp(-1, 1);
  EXPECT_TRUE(torch::allclose(conv->weight, expected, 0, 1e-7));
  EXPECT_GT((conv->weight - w.clamp(-1, 1)).abs().max().item<double>(), 0.1);  // the centring mattered
}

// In a model: every layer but the first convolution and the classifier, which full_precision_ends
// keeps real-valued (their quantizer is the identity), as XNOR-Net's train.lua rewrites every conv
// node but its first and last (`for i = 2, #convNodes-1`; the last is its classifier): BNN's clamp
// and XNOR-Net's centring and clamp.
TEST(LatentWeight, EveryLayerButTheFirstAndTheClassifierIsRewritten) {
  using Rewrite = std::function<torch::Tensor(const torch::Tensor&)>;
  const std::vector<std::tuple<std::string, lowbit::Params, Rewrite>> cases = {
      {"sign", {{"ste", std::string("identity")}, {"latent_clip", 1.0}},
       [](const torch::Tensor& w) { return w.clamp(-1, 1); }},
      {"xnor", {{"latent_center", true}, {"latent_clip", 1.0}},
       [](const torch::Tensor& w) { return (w - w.mean(1, true)).clamp(-1, 1); }}};
  for (const auto& [name, params, rewrite] : cases) {
    SCOPED_TRACE(name);
    torch::manual_seed(3);
    lowbit::models::QuantPolicy policy;
    policy.weight = {name, params};
    auto net = lowbit::models::make("small_cnn", {{"channels", std::vector<int64_t>{4, 8, 8}}}, policy);
    std::map<std::string, torch::Tensor> before;
    for (auto& p : net->named_parameters()) {
      torch::NoGradGuard no_grad;
      if (p.value().dim() == 4 || p.value().dim() == 2) p.value().normal_(0.3, 2);
      before[p.key()] = p.value().detach().clone();
    }
    lowbit::hooks::end_step(*net);
    int64_t rewritten = 0, kept = 0;
    for (const auto& m : net->named_modules()) {
      const auto* conv = dynamic_cast<lowbit::layers::QConv2dImpl*>(m.value().get());
      const auto* fc = dynamic_cast<lowbit::layers::QLinearImpl*>(m.value().get());
      if (!conv && !fc) continue;
      const auto& w = conv ? conv->weight : fc->weight;
      const auto& old = before.at(m.key() + ".weight");
      const bool binary = (conv ? conv->weight_quantizer : fc->weight_quantizer)->bits() == 1;
      EXPECT_TRUE(torch::allclose(w, binary ? rewrite(old) : old, 0, 1e-6)) << m.key();
      (binary ? rewritten : kept) += 1;
    }
    EXPECT_EQ(rewritten, 2);  // small_cnn's second and third convolutions
    EXPECT_EQ(kept, 2);       // the first convolution and the classifier
  }
}

// A frozen weight (requires_grad false: a detector's frozen stem) stays as loaded.
TEST(LatentWeight, AFrozenWeightIsLeftAlone) {
  QConv2d conv(QConv2dOptions(3, 4, 3).weight_quantizer(lowbit::quant::make("sign", {{"latent_clip", 0.01}})));
  conv->weight.requires_grad_(false);
  const auto before = conv->weight.clone();
  lowbit::hooks::end_step(*conv);
  EXPECT_TRUE(torch::equal(conv->weight, before));
  EXPECT_GT(before.abs().max().item<double>(), 0.01);
}

TEST(LatentWeight, BadUsesAreNamed) {
  using lowbit::testing::error_of;
  for (const char* name : {"sign", "xnor"}) {
    const auto msg = error_of([&] { lowbit::quant::make(name, {{"latent_clip", -1.0}}); });
    EXPECT_NE(msg.find("latent_clip"), std::string::npos) << msg;
    EXPECT_NE(msg.find("expected a non-negative number (0: off), got -1"), std::string::npos) << msg;
  }
  // Only a layer's weight quantizer rewrites a weight: as an input quantizer the option is refused.
  const auto input = error_of([] {
    QConv2d(QConv2dOptions(3, 4, 3).input_quantizer(lowbit::quant::make("sign", {{"latent_clip", 1.0}})));
  });
  EXPECT_NE(input.find("QConv2d(3->4, 3x3): input quantizer: sign: its latent-weight options (latent_clip, "
                       "latent_center) rewrite the weight of a QConv2d or QLinear"),
            std::string::npos)
      << input;
  // Centring over one input channel would zero the weight.
  const auto single = error_of([] {
    QConv2d(QConv2dOptions(1, 4, 3).weight_quantizer(lowbit::quant::make("xnor", {{"latent_center", true}})));
  });
  EXPECT_NE(single.find("latent_center subtracts the mean over the input channels (dim 1)"), std::string::npos)
      << single;
}
