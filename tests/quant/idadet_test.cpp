// IDa-Det's BiConv weight binarizer (modules/quant/idadet.h): the bilinear binarization with
// mu = 1e-4 and no sign(s) factor in the scale's gradient.
#include <lowbit/csrc/ops/bilinear_sign.h>
#include <lowbit/modules/layers/qconv2d.h>
#include <lowbit/modules/quant/idadet.h>
#include <lowbit/modules/quant/registry.h>
#include <lowbit/modules/quant/sign.h>

#include "support/error_of.h"

#include <gtest/gtest.h>

#include <torch/torch.h>

using lowbit::quant::IdaDet;
using lowbit::quant::IdaDetOptions;
using lowbit::testing::error_of;

namespace {

IdaDet make_idadet(IdaDetOptions options) {
  IdaDet q(options);
  q->to(torch::kDouble);
  torch::NoGradGuard no_grad;
  q->scale.copy_(torch::tensor({-1.5, 0.5}, torch::kDouble).view({2, 1, 1, 1}));
  return q;
}

torch::Tensor weights() {
  return torch::tensor({{0.3, -0.1, 0.0, 5.0}, {-0.7, 0.2, -2.0, 0.05}}, torch::kDouble).view({2, 4, 1, 1});
}
const auto kUpstream = torch::tensor({{1.0, -2.0, 0.5, 3.0}, {0.25, 1.0, -1.0, 2.0}}, torch::kDouble).view({2, 4, 1, 1});

}  // namespace

TEST(IdaDet, ScaleHasOfficialNameAndForwardIsKappaAbsScaleSign) {
  auto made = lowbit::quant::make("idadet", {{"channels", 2}});
  ASSERT_EQ(made->named_parameters().size(), 1u);
  EXPECT_EQ(made->named_parameters()["scale"].sizes(), (std::vector<int64_t>{2, 1, 1, 1}));
  auto q = make_idadet(2);
  const auto y = q(weights());
  EXPECT_TRUE(torch::equal(y, weights().sign() * 0.02 * torch::tensor({1.5, 0.5}, torch::kDouble).view({2, 1, 1, 1})));
  EXPECT_EQ(y[0][2].item<double>(), 0.0);
}

TEST(IdaDet, ZeroMuGradientsHaveNoSignFactor) {
  auto q = make_idadet(IdaDetOptions(2).mu(0));
  auto w = weights().requires_grad_(true);
  (q(w) * kUpstream).sum().backward();
  const auto alpha = torch::tensor({1.5, 0.5}, torch::kDouble).view({2, 1, 1, 1});
  EXPECT_TRUE(torch::allclose(w.grad(), alpha * kUpstream));
  // ds = sum g W, also for s_0 = -1.5 < 0.
  EXPECT_TRUE(torch::allclose(q->scale.grad(), (kUpstream * weights()).sum({1, 2, 3}, true)));
}

TEST(IdaDet, DefaultMuIsTheReconstructionWeight) {
  auto q = make_idadet(2);
  auto w = weights().requires_grad_(true);
  (q(w) * kUpstream).sum().backward();
  const auto alpha = torch::tensor({1.5, 0.5}, torch::kDouble).view({2, 1, 1, 1});
  const auto b = 0.02 * weights().sign();
  const auto r = weights() - alpha * b;
  EXPECT_TRUE(torch::allclose(w.grad(), 1e-4 * r + alpha * kUpstream));
  EXPECT_TRUE(torch::allclose(q->scale.grad(),
                              (kUpstream * weights()).sum({1, 2, 3}, true) - 1e-4 * (r * b).sum({1, 2, 3}, true)));
  // The same Function as ReBNN / RBONN, without the sign(s) factor.
  auto w2 = weights().requires_grad_(true);
  auto s2 = q->scale.detach().clone().requires_grad_(true);
  (lowbit::ops::bilinear_sign(w2, s2, 1e-4) * kUpstream).sum().backward();
  EXPECT_TRUE(torch::allclose(w.grad(), w2.grad()));
  EXPECT_TRUE(torch::allclose(q->scale.grad() * q->scale.detach().sign(), s2.grad()));
}

TEST(IdaDet, BiConvBinarizesInputsAndWeights) {
  // BiConv = QConv2d with idadet weights and ApproxSign inputs.
  lowbit::layers::QConv2d conv(lowbit::layers::QConv2dOptions(3, 2, 3)
                                   .padding(1)
                                   .weight_quantizer(IdaDet(2))
                                   .input_quantizer(lowbit::quant::Sign(
                                       lowbit::quant::SignOptions().ste(lowbit::ops::Ste::ApproxSign))));
  const auto x = torch::randn({1, 3, 5, 5});
  const auto input = conv->input_quantizer(x);
  EXPECT_TRUE(torch::equal(input, x.sign()));
  const auto w = conv->weight_quantizer(conv->weight);
  const auto levels = 0.02 * conv->weight_quantizer->named_parameters()["scale"].detach().abs();
  EXPECT_TRUE(torch::equal(w.abs(), levels.expand_as(w)));
}

TEST(IdaDet, BadOptionsAreNamed) {
  using lowbit::quant::make;
  auto msg = error_of([] { make("idadet", {{"channels", 2}, {"kappa", 0.0}}); });
  EXPECT_NE(msg.find("idadet: kappa must be > 0, got 0"), std::string::npos) << msg;
  msg = error_of([] { make("idadet", {{"channels", 2}, {"mu", -1.0}}); });
  EXPECT_NE(msg.find("idadet: mu must be >= 0, got -1"), std::string::npos) << msg;
  msg = error_of([] {
    lowbit::layers::QConv2d(lowbit::layers::QConv2dOptions(3, 8, 3).weight_quantizer(IdaDet(4)));
  });
  EXPECT_NE(msg.find("idadet: scale has 4 channels, but the weight has shape [8, 3, 3, 3]"), std::string::npos) << msg;
}
