// The Bi-Real / ReActNet / AdaBin residual unit: one binary 3×3 convolution per real shortcut.
#include <lowbit/modules/layers/batch_norm.h>
#include <lowbit/modules/layers/binary_residual_unit.h>
#include <lowbit/modules/layers/maxout.h>
#include <lowbit/modules/layers/rprelu.h>
#include <lowbit/modules/layers/stage.h>
#include <lowbit/modules/quant/sign.h>
#include <lowbit/modules/quant/xnor.h>
#include <lowbit/modules/taps/taps.h>

#include "support/error_of.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

using lowbit::layers::Activation;
using lowbit::layers::BinaryResidualUnit;
using lowbit::layers::BinaryResidualUnitOptions;
using lowbit::layers::Shortcut;

namespace {

BinaryResidualUnitOptions binary(int64_t in, int64_t out) {
  return BinaryResidualUnitOptions(in, out)
      .weight_quantizer(lowbit::quant::Xnor())
      .input_quantizer(lowbit::quant::Sign(lowbit::quant::SignOptions().ste(lowbit::ops::Ste::ApproxSign)));
}

}  // namespace

TEST(BinaryResidualUnit, StrideTwoHalvesHeightAndWidthEvenOrOdd) {
  torch::manual_seed(0);
  for (const auto shortcut : {Shortcut::AvgPoolConv, Shortcut::Conv, Shortcut::ZeroPad}) {
    BinaryResidualUnit unit(binary(8, 16).stride(2).shortcut(shortcut));
    EXPECT_EQ(unit(torch::randn({2, 8, 8, 8})).sizes(), torch::IntArrayRef({2, 16, 4, 4})) << to_string(shortcut);
    EXPECT_EQ(unit(torch::randn({2, 8, 7, 7})).sizes(), torch::IntArrayRef({2, 16, 4, 4})) << to_string(shortcut);
  }
}

TEST(BinaryResidualUnit, DownsampleIsAvgPoolThenStrideOneConvThenBatchNorm) {
  torch::manual_seed(1);
  BinaryResidualUnit unit(binary(4, 8).stride(2));
  ASSERT_TRUE(unit->downsample);
  ASSERT_EQ(unit->downsample->size(), 3u);
  auto* pool = unit->downsample[0]->as<torch::nn::AvgPool2d>();
  auto* conv = unit->downsample[1]->as<lowbit::layers::QConv2d>();
  auto* bn = unit->downsample[2]->as<lowbit::layers::BatchNorm>();
  ASSERT_TRUE(pool && conv && bn);
  EXPECT_EQ((*pool->options.kernel_size())[0], 2);
  EXPECT_EQ((*pool->options.stride())[0], 2);
  EXPECT_TRUE(pool->options.ceil_mode());
  EXPECT_FALSE(pool->options.count_include_pad());
  EXPECT_EQ((*conv->options.kernel_size())[0], 1);
  EXPECT_EQ((*conv->options.stride())[0], 1);
  EXPECT_EQ(conv->weight_quantizer->bits(), 32);  // the shortcut stays real-valued
  unit->eval();
  const auto x = torch::randn({1, 4, 6, 6});
  const auto pooled = torch::avg_pool2d(x, 2, 2);
  EXPECT_TRUE(torch::allclose(unit->shortcut(x), bn->forward(torch::conv2d(pooled, conv->weight)), 1e-5, 1e-6));
  // Names as the official nn.Sequential(AvgPool2d, Conv2d, BatchNorm2d).
  const auto params = unit->named_parameters();
  EXPECT_TRUE(params.contains("downsample.1.weight") && params.contains("downsample.2.weight"));
}

TEST(BinaryResidualUnit, ConvShortcutIsAStridedOneByOne) {
  BinaryResidualUnit unit(binary(4, 8).stride(2).shortcut(Shortcut::Conv));
  ASSERT_EQ(unit->downsample->size(), 2u);
  auto* conv = unit->downsample[0]->as<lowbit::layers::QConv2d>();
  ASSERT_TRUE(conv);
  EXPECT_EQ((*conv->options.stride())[0], 2);
}

TEST(BinaryResidualUnit, ZeroPadShortcutSubsamplesAndPadsChannelsOnBothSides) {
  torch::manual_seed(2);
  BinaryResidualUnit unit(binary(4, 8).stride(2).shortcut(Shortcut::ZeroPad));
  EXPECT_FALSE(unit->downsample);
  const auto x = torch::randn({2, 4, 5, 5});
  const auto s = unit->shortcut(x);
  ASSERT_EQ(s.sizes(), torch::IntArrayRef({2, 8, 3, 3}));
  using torch::indexing::Slice;
  const auto sub = x.index({Slice(), Slice(), Slice(0, 5, 2), Slice(0, 5, 2)});
  EXPECT_TRUE(torch::equal(s.slice(1, 2, 6), sub));
  EXPECT_TRUE(torch::equal(s.slice(1, 0, 2), torch::zeros({2, 2, 3, 3})));
  EXPECT_TRUE(torch::equal(s.slice(1, 6, 8), torch::zeros({2, 2, 3, 3})));
  // Parameters: the conv and its BN only.
  EXPECT_EQ(unit->parameters().size(), 3u);
}

// ReActNet-A's units: a 3×3 C -> C at stride 2 adds AvgPool2d(2, 2) of x; a pointwise C -> 2C adds
// [x, x] (the official two C -> C convolutions' shared shortcut); neither has parameters.
TEST(BinaryResidualUnit, AvgPoolRepeatShortcutPoolsAndRepeats) {
  torch::manual_seed(5);
  const auto x = torch::randn({2, 4, 6, 6});
  BinaryResidualUnit pooled(binary(4, 4).stride(2).shortcut(Shortcut::AvgPoolRepeat));
  EXPECT_TRUE(torch::allclose(pooled->shortcut(x), torch::avg_pool2d(x, 2, 2)));
  EXPECT_EQ(pooled(x).sizes(), torch::IntArrayRef({2, 4, 3, 3}));
  BinaryResidualUnit widening(binary(4, 8).kernel_size(1).shortcut(Shortcut::AvgPoolRepeat));
  EXPECT_TRUE(torch::equal(widening->shortcut(x), torch::cat({x, x}, 1)));
  EXPECT_EQ(widening->conv->weight.sizes(), torch::IntArrayRef({8, 4, 1, 1}));
  EXPECT_EQ(widening(x).sizes(), torch::IntArrayRef({2, 8, 6, 6}));
  EXPECT_EQ(widening->parameters().size(), 3u);  // the conv and its BN only
}

TEST(BinaryResidualUnit, BinaryConvOnQuantizedInputPlusRealShortcutThenActivation) {
  torch::manual_seed(3);
  for (const auto activation : {Activation::None, Activation::PReLU, Activation::RPReLU, Activation::Maxout}) {
    BinaryResidualUnit unit(binary(4, 4).activation(activation));
    EXPECT_FALSE(unit->downsample);
    EXPECT_EQ(unit->named_children().contains("activation"), activation != Activation::None);
    unit->eval();
    {
      torch::NoGradGuard no_grad;  // make every part visible in the output
      unit->bn->running_mean.uniform_(-0.5, 0.5);
      unit->bn->running_var.uniform_(0.5, 2);
      for (auto& p : unit->parameters()) p.add_(torch::rand_like(p) * 0.2);
    }
    const auto x = torch::randn({2, 4, 5, 5});
    const auto binary_weight = unit->conv->weight_quantizer(unit->conv->weight);
    auto expected = unit->bn(torch::conv2d(torch::sign(x), binary_weight, {}, 1, 1)) + x;
    if (activation != Activation::None) expected = unit->activation.forward(expected);
    EXPECT_TRUE(torch::allclose(unit(x), expected, 1e-5, 1e-5)) << to_string(activation);
  }
  EXPECT_TRUE(BinaryResidualUnit(binary(4, 4).activation(Activation::Maxout))->activation.ptr()->as<lowbit::layers::Maxout>());
  EXPECT_TRUE(BinaryResidualUnit(binary(4, 4).activation(Activation::RPReLU))->activation.ptr()->as<lowbit::layers::RPReLU>());
}

// With RPReLU, training: the batch norm fused into it (csrc/ops/batch_norm_rprelu.h) gives the
// composition's output, running statistics, batch count and gradients; in ghost batches the unit
// takes the composition itself.
TEST(BinaryResidualUnit, RPReLUTakesTheBatchNormInTraining) {
  for (const int64_t ghost_batch : {0, 2}) {
    SCOPED_TRACE(ghost_batch);
    torch::manual_seed(5);
    BinaryResidualUnit unit(binary(4, 8).stride(2).activation(Activation::RPReLU));
    auto twin = std::dynamic_pointer_cast<lowbit::layers::BinaryResidualUnitImpl>(unit->clone());
    unit->bn->ghost_batch = twin->bn->ghost_batch = ghost_batch;
    const auto x = torch::randn({4, 4, 6, 6});
    const auto xa = x.clone().requires_grad_(true), xb = x.clone().requires_grad_(true);
    const auto ya = unit(xa);
    auto& act = twin->activation.get<lowbit::layers::RPReLUImpl>();
    const auto yb = act.forward(twin->bn(twin->conv(xb)) + twin->shortcut(xb));
    EXPECT_TRUE(torch::allclose(ya, yb, 1e-5, 1e-5));
    const auto upstream = torch::randn_like(ya);
    (ya * upstream).sum().backward();
    (yb * upstream).sum().backward();
    EXPECT_TRUE(torch::allclose(xa.grad(), xb.grad(), 1e-4, 1e-5));
    const auto twin_params = twin->named_parameters();
    for (const auto& p : unit->named_parameters()) {
      EXPECT_TRUE(torch::allclose(p.value().grad(), twin_params[p.key()].grad(), 1e-4, 1e-5)) << p.key();
    }
    const auto twin_buffers = twin->named_buffers();
    for (const auto& b : unit->named_buffers()) {
      EXPECT_TRUE(torch::allclose(b.value(), twin_buffers[b.key()], 1e-6, 1e-6)) << b.key();
    }
    EXPECT_EQ(unit->bn->num_batches_tracked.item<int64_t>(), 1);
  }
}

TEST(BinaryResidualUnit, GradientsReachWeightsShortcutAndInput) {
  torch::manual_seed(4);
  BinaryResidualUnit unit(binary(4, 8).stride(2).activation(Activation::Maxout));
  const auto x = torch::randn({2, 4, 6, 6}).requires_grad_(true);
  unit(x).pow(2).sum().backward();
  EXPECT_GT(x.grad().abs().sum().item<double>(), 0);
  for (const auto& p : unit->named_parameters()) {
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
    EXPECT_GT(p.value().grad().abs().sum().item<double>(), 0) << p.key();
  }
}

TEST(BinaryResidualUnit, CloneIsDeep) {
  lowbit::layers::Stage stage(BinaryResidualUnit(binary(4, 8).stride(2).activation(Activation::RPReLU)),
                              BinaryResidualUnit(binary(8, 8).activation(Activation::RPReLU)));
  auto copy = std::dynamic_pointer_cast<lowbit::layers::StageImpl>(stage->clone());
  ASSERT_TRUE(copy);
  const auto x = torch::randn({1, 4, 6, 6});
  EXPECT_TRUE(torch::equal(copy->forward(x), stage->forward(x)));
  const auto original = stage->named_parameters();
  for (const auto& p : copy->named_parameters()) {
    ASSERT_TRUE(original.contains(p.key())) << p.key();
    EXPECT_NE(p.value().data_ptr(), original[p.key()].data_ptr()) << p.key();
  }
}

TEST(BinaryResidualUnit, BadOptionsAreNamed) {
  using lowbit::testing::error_of;
  EXPECT_NE(error_of([] { BinaryResidualUnit(binary(8, 4).shortcut(Shortcut::ZeroPad)); })
                .find("BinaryResidualUnit(8->4, stride 1): the zero_pad shortcut cannot reduce the channels (8 -> 4)"),
            std::string::npos);
  EXPECT_NE(error_of([] { BinaryResidualUnit(binary(8, 8).stride(0)); }).find("channels and stride must be positive"),
            std::string::npos);
  EXPECT_NE(error_of([] { BinaryResidualUnit(binary(4, 6).shortcut(Shortcut::AvgPoolRepeat)); })
                .find("the avgpool_repeat shortcut repeats the input's channels, so out_channels must be a multiple "
                      "of in_channels (4 -> 6)"),
            std::string::npos);
  EXPECT_NE(error_of([] { BinaryResidualUnit(binary(4, 4).kernel_size(5)); }).find("kernel_size must be 3 or 1, got 5"),
            std::string::npos);
  EXPECT_NE(error_of([] { lowbit::layers::parse_shortcut("zeropad"); })
                .find("unknown shortcut 'zeropad' (did you mean 'zero_pad'?)"),
            std::string::npos);
  EXPECT_NE(error_of([] { lowbit::layers::parse_activation("rprelu2"); }).find("unknown activation 'rprelu2'"),
            std::string::npos);
  EXPECT_NE(error_of([] { BinaryResidualUnit(binary(4, 4))(torch::ones({1, 3, 4, 4})); })
                .find("BinaryResidualUnit(4->4, stride 1): expected input [N, 4, H, W], got shape [1, 3, 4, 4]"),
            std::string::npos);
}

// With RPReLU the batch norm and activation are written over the convolution's output, except
// while a tap recorder holds that output ("conv.output"): the tap keeps the convolution's values.
TEST(BinaryResidualUnit, ATappedConvolutionOutputIsNotWrittenOver) {
  torch::manual_seed(3);
  BinaryResidualUnit unit(binary(4, 4).activation(Activation::RPReLU));
  unit->train();
  const auto x = torch::randn({2, 4, 6, 6});
  lowbit::taps::TapRecord record;
  torch::Tensor y;
  {
    lowbit::taps::TapRecorder recorder(*unit, record);
    y = unit(x);
  }
  EXPECT_TRUE(torch::allclose(record.at("conv.output"), unit->conv(x)));
  EXPECT_TRUE(torch::allclose(y, unit(x)));  // the output is the same either way
}
