#include <lowbit/modules/layers/qlinear.h>
#include <lowbit/modules/quant/registry.h>

#include <gtest/gtest.h>

#include <torch/torch.h>

#include <sstream>

using lowbit::layers::QLinear;
using lowbit::layers::QLinearOptions;

TEST(QLinear, WithIdentityQuantizersMatchesTorchLinear) {
  torch::manual_seed(3);
  torch::nn::Linear reference(20, 7);
  torch::manual_seed(3);
  QLinear linear(20, 7);
  auto xa = torch::randn({5, 20}).requires_grad_(true);
  auto xb = xa.detach().clone().requires_grad_(true);
  const auto ya = linear(xa), yb = reference(xb);
  EXPECT_TRUE(torch::equal(ya, yb));
  ya.pow(2).sum().backward();
  yb.pow(2).sum().backward();
  EXPECT_TRUE(torch::equal(xa.grad(), xb.grad()));
  EXPECT_TRUE(torch::equal(linear->weight.grad(), reference->weight.grad()));
  EXPECT_TRUE(torch::equal(linear->bias.grad(), reference->bias.grad()));
}

TEST(QLinear, TernaryWeightsGetStraightThroughGradient) {
  QLinear linear(QLinearOptions(4, 3).bias(false).weight_quantizer(lowbit::quant::make("ternary")));
  const auto x = torch::randn({2, 4});
  const auto y = linear(x);
  for (int64_t o = 0; o < 3; ++o) {
    EXPECT_LE(std::get<0>(torch::_unique(linear->weight_quantizer(linear->weight)[o])).numel(), 3);
  }
  y.sum().backward();
  EXPECT_TRUE(torch::allclose(linear->weight.grad(), x.sum(0).expand({3, 4})));  // identity STE
}

TEST(QLinear, SaveLoadRoundTrip) {
  auto make = [] {
    return QLinear(QLinearOptions(16, 4).weight_quantizer(lowbit::quant::make("lsq", {{"bits", 3}})));
  };
  auto linear = make();
  const auto x = torch::randn({3, 16});
  const auto expected = linear(x);
  std::stringstream stream;
  torch::save(linear, stream);
  auto restored = make();
  torch::load(restored, stream);
  EXPECT_TRUE(torch::equal(restored(x), expected));
}

TEST(QLinear, WrongInputWidthIsNamed) {
  QLinear linear(256, 10);
  try {
    linear(torch::randn({2, 128}));
    FAIL();
  } catch (const c10::Error& e) {
    EXPECT_NE(e.msg().find("QLinear(256->10): expected input [..., 256], got shape [2, 128]"), std::string::npos)
        << e.msg();
  }
}

// Bi-ViT's BiLinearBiReal (Bi_Quant.py) is a QLinear without bias, weights {xnor, scale_grad:
// detached}, inputs {sign, ste: approx}: y = sign(x) (alpha_o sign W)^T, alpha_o = mean|W_o|
// detached, dL/dW = G 1[|W| <= 1], dL/dx by ApproxSign.
TEST(QLinear, BiVitBinaryLinearMatchesBiLinearBiReal) {
  torch::manual_seed(5);
  QLinear linear(QLinearOptions(6, 3)
                     .bias(false)
                     .weight_quantizer(lowbit::quant::make("xnor", {{"scale_grad", std::string("detached")}}))
                     .input_quantizer(lowbit::quant::make("sign", {{"ste", std::string("approx")}})));
  linear->to(torch::kDouble);
  {
    torch::NoGradGuard no_grad;
    linear->weight.copy_(torch::randn({3, 6}, torch::kDouble) * 0.8);  // some |W| > 1
  }
  const auto x0 = torch::randn({4, 6}, torch::kDouble) * 0.8;
  const auto upstream = torch::randn({4, 3}, torch::kDouble);
  auto x = x0.clone().requires_grad_(true);
  const auto y = linear(x);
  (y * upstream).sum().backward();

  // The official forward, with its autograd graph.
  auto x_ref = x0.clone().requires_grad_(true);
  auto w_ref = linear->weight.detach().clone().requires_grad_(true);
  const auto m1 = (x_ref < -1).to(torch::kDouble), m2 = (x_ref < 0).to(torch::kDouble), m3 = (x_ref < 1).to(torch::kDouble);
  const auto out1 = -1 * m1 + (x_ref * x_ref + 2 * x_ref) * (1 - m1);
  const auto out2 = out1 * m2 + (-x_ref * x_ref + 2 * x_ref) * (1 - m2);
  const auto out3 = out2 * m3 + 1 * (1 - m3);
  const auto input = x_ref.sign().detach() - out3.detach() + out3;
  const auto scale = w_ref.abs().mean(1, true).detach();
  const auto clipped = w_ref.clamp(-1.0, 1.0);
  const auto binary = (scale * w_ref.sign()).detach() - clipped.detach() + clipped;
  const auto y_ref = torch::nn::functional::linear(input, binary);
  (y_ref * upstream).sum().backward();

  EXPECT_TRUE(torch::allclose(y, y_ref));
  EXPECT_TRUE(torch::allclose(x.grad(), x_ref.grad()));
  EXPECT_TRUE(torch::allclose(linear->weight.grad(), w_ref.grad()));
  EXPECT_TRUE(torch::allclose(linear->weight.grad(), (upstream.t().mm(x0.sign())) * (w_ref.abs() <= 1)));
  EXPECT_EQ(linear->named_parameters().size(), 1u);  // no bias
}
