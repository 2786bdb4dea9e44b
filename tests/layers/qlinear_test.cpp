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
