// What a binarized layer keeps for its backward (csrc/ops/kept_operands.h, csrc/ops/sign.cpp): the
// bytes the autograd graph holds after the forward, counted by util::CpuMemoryCounter, against
// the composition every layer used before (the STE kept its float input, the convolution its
// float ±1 input), with identical outputs and gradients.
#include <lowbit/csrc/ops/kept_operands.h>
#include <lowbit/csrc/ops/scaled_sign.h>
#include <lowbit/csrc/ops/sign.h>
#include <lowbit/csrc/util/cpu_memory.h>
#include <lowbit/modules/layers/binary_residual_unit.h>
#include <lowbit/modules/layers/qattention.h>
#include <lowbit/modules/layers/rprelu.h>
#include <lowbit/modules/layers/qconv2d.h>
#include <lowbit/modules/layers/qlinear.h>
#include <lowbit/modules/quant/registry.h>
#include <lowbit/modules/quant/rsign.h>
#include <lowbit/modules/quant/sign.h>
#include <lowbit/modules/quant/xnor.h>

#include "support/example_quantizers.h"

#include <gtest/gtest.h>

#include <torch/torch.h>

#include <algorithm>
#include <functional>
#include <string>
#include <vector>

namespace {

using lowbit::layers::QConv2d;
using lowbit::layers::QConv2dOptions;
using lowbit::ops::Ste;
using Forward = std::function<torch::Tensor(const torch::Tensor&)>;

// Bytes held by the graph of forward(x) once only its output is left: x is made inside the
// counted window and needs a gradient, as a layer's input is the fresh output of the layer
// before, so keeping it for the backward counts.
int64_t saved_bytes(const Forward& forward, const torch::Tensor& input) {
  const auto leaf = input.detach().requires_grad_(true);
  lowbit::util::CpuMemoryCounter counter;
  const int64_t before = counter.live_bytes();
  torch::Tensor y;
  {
    const auto x = leaf * 1.0;  // not a leaf: alive only if saved (a scalar product keeps nothing)
    y = forward(x);
  }
  return counter.live_bytes() - before - static_cast<int64_t>(y.nbytes());
}

QConv2d binary_conv(const lowbit::quant::Quantizer& input) {
  torch::manual_seed(3);
  return QConv2d(QConv2dOptions(64, 64, 3).padding(1).bias(false).input_quantizer(input).weight_quantizer(
      lowbit::quant::Xnor(lowbit::quant::XnorOptions().scale_grad(lowbit::ops::ScaleGrad::Detached))));
}

// The composition before bit planes: sign kept x (for any estimator, as ApproxSign still does),
// the convolution its float ±1 input.
torch::Tensor unpacked_forward(QConv2d& conv, const torch::Tensor& x) {
  return at::conv2d(lowbit::ops::sign(x, Ste::ApproxSign), conv->weight_quantizer(conv->weight), {}, {1, 1}, {1, 1});
}

TEST(SavedForBackward, BinarizedConvolutionKeepsAtMostAnEighthOfTheUnpackedBytes) {
  torch::manual_seed(0);
  const auto input = torch::randn({32, 64, 32, 32});  // 8 MiB of float32
  auto conv = binary_conv(lowbit::quant::Sign(lowbit::quant::SignOptions().ste(Ste::Clipped)));
  const auto unpacked = saved_bytes([&](const torch::Tensor& x) { return unpacked_forward(conv, x); }, input);
  const auto packed = saved_bytes([&](const torch::Tensor& x) { return conv(x); }, input);
  std::cout << "binarized 3x3 convolution (sign clipped + xnor) on [32, 64, 32, 32]: " << packed << " bytes kept vs "
            << unpacked << " unpacked (" << static_cast<double>(unpacked) / packed << "x less)\n";
  // Unpacked: x and sign(x) in float32 (8 bytes a value) + the scaled weight; packed: the clip
  // mask (1 bit) and the sign planes (2 bits) + the scaled weight.
  EXPECT_GE(unpacked, 8 * input.numel());
  EXPECT_LE(packed * 8, unpacked);
}

TEST(SavedForBackward, ApproxSignKeepsItsInputAndTheConvolutionOnlyPlanes) {
  torch::manual_seed(0);
  const auto input = torch::randn({8, 64, 16, 16});
  auto conv = binary_conv(lowbit::quant::RSign(64));
  const auto unpacked = saved_bytes([&](const torch::Tensor& x) { return unpacked_forward(conv, x); }, input);
  const auto packed = saved_bytes([&](const torch::Tensor& x) { return conv(x); }, input);
  const auto weight_bytes = 64 * 64 * 9 * 4;
  // x in float32 (ApproxSign's derivative needs |x|) + 2 bits a value + the scaled weight.
  EXPECT_LE(packed, 4 * input.numel() + input.numel() / 4 + weight_bytes + 4096);
  EXPECT_GE(unpacked - packed, 3 * input.numel());
}

// The bits kept for the backward come back exactly: with the forward through at::conv2d too (the
// packed forward's sums round differently: KeptOperands.BinaryForwardOnPackedKernels...), the
// same outputs and gradients, bit for bit.
TEST(SavedForBackward, PackedLayersGiveTheUnpackedOutputsAndGradients) {
  lowbit::ops::set_packed_binary_forward(false);
  torch::manual_seed(1);
  const auto input = torch::randn({4, 64, 10, 10});
  for (const auto ste : {Ste::Identity, Ste::Clipped, Ste::ApproxSign}) {
    SCOPED_TRACE(lowbit::ops::to_string(ste));
    auto conv = binary_conv(lowbit::quant::Sign(lowbit::quant::SignOptions().ste(ste)));
    auto xa = input.clone().requires_grad_(true), xb = input.clone().requires_grad_(true);
    const auto ya = conv(xa);
    const auto wa = (ya * ya).sum();
    wa.backward();
    const auto grad_w = conv->weight.grad().clone();
    conv->weight.mutable_grad().reset();
    const auto yb = at::conv2d(lowbit::ops::sign(xb, ste), conv->weight_quantizer(conv->weight), {}, {1, 1}, {1, 1});
    (yb * yb).sum().backward();
    EXPECT_TRUE(torch::equal(ya, yb));
    EXPECT_TRUE(torch::equal(xa.grad(), xb.grad()));
    EXPECT_TRUE(torch::equal(grad_w, conv->weight.grad()));
  }
  lowbit::ops::set_packed_binary_forward(true);
}

TEST(SavedForBackward, LinearOfSignsKeepsPlanes) {
  torch::manual_seed(2);
  lowbit::layers::QLinear linear(lowbit::layers::QLinearOptions(256, 256).input_quantizer(
      lowbit::quant::Sign(lowbit::quant::SignOptions().ste(Ste::Identity))));
  const auto input = torch::randn({16, 49, 256});
  const auto packed = saved_bytes([&](const torch::Tensor& x) { return linear(x); }, input);
  // 2 bits a value, the identity estimator keeps nothing; the float weight is a parameter.
  EXPECT_LE(packed, input.numel() / 4 + 4096);
}

// A quantizer that says its output holds scaled signs ({-s, 0, +s} per output channel) must, since
// a binarized layer then keeps that weight as planes and magnitudes. The weight quantizers whose
// outputs are binary or ternary say so.
TEST(SavedForBackward, QuantizersThatSayScaledSignsOutputThem) {
  std::vector<std::string> saying;
  for (const auto& name : lowbit::quant::registered_quantizers()) {
    auto q = lowbit::quant::make(name, lowbit::testing::example_params(name));
    if (!q->outputs_scaled_signs()) continue;
    saying.push_back(name);
    SCOPED_TRACE(name);
    torch::manual_seed(5);
    q->train();
    for (int step = 0; step < 2; ++step) {  // the recurrent quantizers change after their first forward
      const auto w = torch::randn({16, 16, 5, 5}, torch::requires_grad());
      const auto y = q(w).detach().reshape({16, -1});
      const auto magnitude = y.abs().amax(1, true);
      EXPECT_TRUE(torch::all((y.abs() == magnitude) | (y == 0)).item<bool>());
      q(w).sum().backward();
    }
  }
  for (const char* name : {"idadet", "rbonn", "rebnn", "rsign", "sign", "ternary", "xnor"}) {
    EXPECT_NE(std::find(saying.begin(), saying.end(), name), saying.end()) << name;
  }
}

// Layers with each binary and ternary weight quantizer give the outputs and gradients of the
// float path, which keeps the weight itself (the forward through at::conv2d in both).
TEST(SavedForBackward, ScaledSignWeightsComeBackExactly) {
  lowbit::ops::set_packed_binary_forward(false);
  for (const char* name : {"xnor", "ternary", "rebnn", "idadet"}) {
    SCOPED_TRACE(name);
    torch::manual_seed(6);
    auto q = lowbit::quant::make(name, lowbit::testing::example_params(name));
    QConv2d conv(QConv2dOptions(8, 16, 3).padding(1).bias(false).input_quantizer(lowbit::quant::Sign()).weight_quantizer(q));
    conv->eval();  // the quantizers' recorded state stays as it is between the two forwards
    const auto input = torch::randn({2, 8, 6, 6});
    auto xa = input.clone().requires_grad_(true), xb = input.clone().requires_grad_(true);
    const auto ya = conv(xa);
    (ya * ya).sum().backward();
    const auto grad_w = conv->weight.grad().clone();
    conv->weight.mutable_grad().reset();
    const auto wq = conv->weight_quantizer(conv->weight);
    const auto yb = at::conv2d(lowbit::ops::sign(xb, Ste::Clipped), wq, {}, {1, 1}, {1, 1});
    (yb * yb).sum().backward();
    EXPECT_TRUE(torch::equal(ya, yb));
    EXPECT_TRUE(torch::equal(xa.grad(), xb.grad()));
    EXPECT_TRUE(torch::equal(grad_w, conv->weight.grad()));
  }
  lowbit::ops::set_packed_binary_forward(true);
}

// Q-ViT's linear layer, 4-bit LSQ activations per feature (qvit_act) and per-channel LSQ weights:
// it keeps the quantizers' inputs, which LSQ's backward keeps anyway, instead of the quantized
// values, and gives the outputs and gradients of the float path.
TEST(SavedForBackward, LsqLinearKeepsItsOperandsOnLsqGrids) {
  const auto make_layer = [] {
    torch::manual_seed(9);
    return lowbit::layers::QLinear(
        lowbit::layers::QLinearOptions(64, 32)
            .weight_quantizer(lowbit::quant::make("lsq", {{"bits", 4}, {"per_channel", true}, {"channels", 32}}))
            .input_quantizer(lowbit::quant::make("qvit_act", {{"bits", 4}, {"channels", 64}, {"channel_dim", -1}})));
  };
  auto layer = make_layer(), twin = make_layer();
  const auto composition = [&](const torch::Tensor& x) {
    return at::linear(twin->input_quantizer(x), twin->weight_quantizer(twin->weight), twin->bias);
  };
  torch::manual_seed(10);
  const auto input = torch::randn({8, 50, 64});
  const auto upstream = torch::randn({8, 50, 32});
  auto xa = input.clone().requires_grad_(true), xb = input.clone().requires_grad_(true);
  const auto ya = layer(xa), yb = composition(xb);  // the first forwards initialise the quantizers alike
  (ya * upstream).sum().backward();
  (yb * upstream).sum().backward();
  EXPECT_TRUE(torch::equal(ya, yb));
  EXPECT_TRUE(torch::equal(xa.grad(), xb.grad()));
  const auto params = layer->named_parameters(), twin_params = twin->named_parameters();
  for (const auto& p : params) {
    SCOPED_TRACE(p.key());
    ASSERT_TRUE(p.value().grad().defined());
    EXPECT_TRUE(torch::allclose(p.value().grad(), twin_params[p.key()].grad(), 1e-6, 1e-7));
  }
  const auto fused = saved_bytes([&](const torch::Tensor& x) { return layer(x); }, input);
  const auto composed = saved_bytes(composition, input);
  std::cout << "LSQ linear 64->32 on [8, 50, 64]: " << fused << " bytes kept vs " << composed
            << " by the composition\n";
  // The composition also keeps the quantized input and weight.
  EXPECT_GE(composed - fused, 4 * input.numel() + 4 * 64 * 32);
}

// Q-ViT's attention, 4-bit per-head q, k, v and attention map (qvit_act): its two products keep
// the quantizers' inputs instead of the quantized q, k, v and map, and it gives the outputs and
// gradients of the composition written with torch::matmul.
TEST(SavedForBackward, QvitAttentionKeepsNoQuantizedActivation) {
  const auto per_head = [] {
    return lowbit::quant::make("qvit_act", {{"bits", 4}, {"channels", 4}, {"channel_dim", 1}});
  };
  const auto make_attention = [&] {
    torch::manual_seed(11);
    return lowbit::layers::QAttention(lowbit::layers::QAttentionOptions(32, 4)
                                          .q_quantizer(per_head())
                                          .k_quantizer(per_head())
                                          .v_quantizer(per_head())
                                          .attn_quantizer(per_head()));
  };
  auto attention = make_attention(), twin = make_attention();
  const auto composition = [&](const torch::Tensor& x) {
    const auto qkv = twin->qkv(x).reshape({x.size(0), x.size(1), 3, 4, 8}).permute({2, 0, 3, 1, 4});
    const auto q = twin->q_act(qkv[0]), k = twin->k_act(qkv[1]), v = twin->v_act(qkv[2]);
    const auto attn = torch::softmax(torch::matmul(q, k.transpose(-2, -1)) * (1.0 / std::sqrt(8.0)), -1);
    return twin->proj(torch::matmul(twin->attn_act(attn), v).transpose(1, 2).reshape({x.size(0), x.size(1), 32}));
  };
  torch::manual_seed(12);
  const auto input = torch::randn({6, 20, 32});
  const auto upstream = torch::randn({6, 20, 32});
  auto xa = input.clone().requires_grad_(true), xb = input.clone().requires_grad_(true);
  const auto ya = attention(xa), yb = composition(xb);
  (ya * upstream).sum().backward();
  (yb * upstream).sum().backward();
  EXPECT_TRUE(torch::equal(ya, yb));
  // The products' backward multiplies in its own layout: gradients equal to float rounding of
  // their largest entry.
  const auto close = [](const torch::Tensor& a, const torch::Tensor& b) {
    return (a - b).abs().max().item<double>() <= 1e-5 * std::max(1e-3, b.abs().max().item<double>());
  };
  EXPECT_TRUE(close(xa.grad(), xb.grad()));
  const auto twin_params = twin->named_parameters();
  for (const auto& p : attention->named_parameters()) {
    SCOPED_TRACE(p.key());
    ASSERT_TRUE(p.value().grad().defined());
    EXPECT_TRUE(close(p.value().grad(), twin_params[p.key()].grad()))
        << (p.value().grad() - twin_params[p.key()].grad()).abs().max().item<double>() << " vs max "
        << twin_params[p.key()].grad().abs().max().item<double>();
  }
  const auto fused = saved_bytes([&](const torch::Tensor& x) { return attention(x); }, input);
  const auto composed = saved_bytes(composition, input);
  std::cout << "Q-ViT attention (dim 32, 4 heads) on [6, 20, 32]: " << fused << " bytes kept vs " << composed
            << " by the composition\n";
  // The composition also keeps the quantized q, k, v ([6, 4, 20, 8] each) and map ([6, 4, 20, 20]).
  EXPECT_GE(composed - fused, 4 * (3 * 6 * 4 * 20 * 8 + 6 * 4 * 20 * 20));
}

// ReActNet's unit: RSign keeps its input x, the convolution bit planes, and the batch norm fused into
// the RPReLU (csrc/ops/batch_norm_rprelu.h) its output (the unit's output: the next unit keeps it),
// a bit per element and the residual (here x, kept anyway), where the composition kept the batch
// norm's input and x + shortcut + gamma as well.
TEST(SavedForBackward, ReActNetUnitKeepsNoFloatBeyondItsInput) {
  torch::manual_seed(4);
  const auto input = torch::randn({16, 64, 16, 16});
  lowbit::layers::BinaryResidualUnit unit(lowbit::layers::BinaryResidualUnitOptions(64, 64)
                                              .activation(lowbit::layers::Activation::RPReLU)
                                              .input_quantizer(lowbit::quant::RSign(64))
                                              .weight_quantizer(lowbit::quant::Xnor()));
  auto& act = unit->activation.get<lowbit::layers::RPReLUImpl>();
  const auto composition = [&](const torch::Tensor& x) {
    return torch::prelu(unit->bn(unit->conv(x)) + x + act.gamma, act.beta) + act.zeta;
  };
  const auto fused = saved_bytes([&](const torch::Tensor& x) { return unit(x); }, input);
  const auto composed = saved_bytes(composition, input);
  const int64_t n = input.numel(), weight_bytes = 64 * 64 * 9 * 4;
  std::cout << "ReActNet unit 64->64 on [16, 64, 16, 16]: " << fused << " bytes kept vs " << composed
            << " by the composition\n";
  // x (4 bytes a value), the sign planes (2 bits), the RPReLU bit, the scaled weight; the
  // composition also keeps the batch norm's input and t in float32.
  EXPECT_LE(fused, 4 * n + n / 4 + n / 8 + weight_bytes + 8192);
  EXPECT_GE(composed - fused, 8 * n - n / 8);
  EXPECT_TRUE(torch::allclose(unit(input), composition(input), 1e-5, 1e-5));
}

}  // namespace
