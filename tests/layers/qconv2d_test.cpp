#include <lowbit/modules/layers/qconv2d.h>
#include <lowbit/modules/quant/lsq.h>
#include <lowbit/modules/quant/registry.h>

#include <gtest/gtest.h>

#include <torch/torch.h>

#include <sstream>

using lowbit::layers::QConv2d;
using lowbit::layers::QConv2dOptions;

TEST(QConv2d, WithIdentityQuantizersMatchesTorchConv2d) {
  torch::manual_seed(7);
  torch::nn::Conv2d reference(torch::nn::Conv2dOptions(3, 6, 3).stride(2).padding(1).groups(3));
  torch::manual_seed(7);
  QConv2d conv(QConv2dOptions(3, 6, 3).stride(2).padding(1).groups(3));
  EXPECT_TRUE(torch::equal(conv->weight, reference->weight));  // same initialisation
  EXPECT_TRUE(torch::equal(conv->bias, reference->bias));

  const auto x = torch::randn({2, 3, 9, 9});
  auto xa = x.clone().requires_grad_(true), xb = x.clone().requires_grad_(true);
  const auto ya = conv(xa), yb = reference(xb);
  EXPECT_TRUE(torch::equal(ya, yb));
  const auto upstream = torch::randn_like(ya);
  (ya * upstream).sum().backward();
  (yb * upstream).sum().backward();
  EXPECT_TRUE(torch::equal(xa.grad(), xb.grad()));
  EXPECT_TRUE(torch::equal(conv->weight.grad(), reference->weight.grad()));
  EXPECT_TRUE(torch::equal(conv->bias.grad(), reference->bias.grad()));
}

TEST(QConv2d, BinaryLayerConvolvesQuantizedOperands) {
  QConv2d conv(QConv2dOptions(2, 4, 3)
                   .bias(false)
                   .weight_quantizer(lowbit::quant::make("xnor"))
                   .input_quantizer(lowbit::quant::make("sign", {{"ste", "approx"}})));
  const auto x = torch::randn({1, 2, 5, 5});
  const auto w = conv->weight.detach();
  const auto expected = torch::conv2d(x.sign(), w.abs().mean({1, 2, 3}, true) * w.sign());
  EXPECT_TRUE(torch::allclose(conv(x), expected, 1e-5, 1e-6));
  EXPECT_EQ(conv->named_children().size(), 2u);
}

TEST(QConv2d, OwnsACopyOfTheQuantizerPrototype) {
  lowbit::quant::Lsq prototype(lowbit::quant::LsqOptions(4));
  QConv2d a(QConv2dOptions(2, 4, 3).weight_quantizer(prototype));
  QConv2d b(QConv2dOptions(2, 4, 3).weight_quantizer(prototype));
  a(torch::randn({1, 2, 5, 5}));
  EXPECT_TRUE(a->weight_quantizer->named_buffers()["initialized"].item<bool>());  // a's own copy ran
  EXPECT_FALSE(prototype->initialized.item<bool>());
  EXPECT_FALSE(b->weight_quantizer->named_buffers()["initialized"].item<bool>());
}

TEST(QConv2d, SaveLoadAndCloneRoundTrip) {
  auto make = [] {
    return QConv2d(QConv2dOptions(4, 8, 3).padding(1).weight_quantizer(
                       lowbit::quant::make("lsq", {{"bits", 2}, {"per_channel", true}, {"channels", 8}}))
                       .input_quantizer(lowbit::quant::make("lsq_plus", {{"bits", 2}})));
  };
  auto conv = make();
  const auto x = torch::randn({2, 4, 6, 6});
  const auto expected = conv(x);
  std::stringstream stream;
  torch::save(conv, stream);
  auto restored = make();
  torch::load(restored, stream);
  EXPECT_TRUE(torch::equal(restored(x), expected));

  auto copy = std::dynamic_pointer_cast<lowbit::layers::QConv2dImpl>(conv->clone());
  EXPECT_TRUE(torch::equal(copy->forward(x), expected));
  {
    torch::NoGradGuard no_grad;
    copy->weight_quantizer->named_parameters()["step"].mul_(2);
  }
  EXPECT_TRUE(torch::equal(conv(x), expected));  // the original is untouched
}

TEST(QConv2d, PerChannelScaleOfWrongShapeIsNamed) {
  try {
    QConv2d(QConv2dOptions(64, 128, 3).weight_quantizer(
        lowbit::quant::make("lsq", {{"bits", 4}, {"per_channel", true}, {"channels", 64}})));
    FAIL();
  } catch (const c10::Error& e) {
    EXPECT_NE(e.msg().find("QConv2d(64->128, 3x3): weight quantizer: lsq per-channel step has shape [64], expected [128]"),
              std::string::npos)
        << e.msg();
  }
}

TEST(QConv2d, ShapesThatDoNotFitAreRejected) {
  EXPECT_THROW(QConv2d(QConv2dOptions(3, 8, 3).groups(2)), c10::ValueError);
  QConv2d conv(QConv2dOptions(3, 8, 3));
  try {
    conv(torch::randn({1, 4, 8, 8}));
    FAIL();
  } catch (const c10::Error& e) {
    EXPECT_NE(e.msg().find("QConv2d(3->8, 3x3): expected input [N, 3, H, W], got shape [1, 4, 8, 8]"), std::string::npos)
        << e.msg();
  }
}
