// QAttention: the full-precision computation, IRM statistics, the binarised attention map of
// Bi-ViT, taps, gradients to every quantizer, bad options.
#include <lowbit/modules/layers/qattention.h>
#include <lowbit/modules/quant/lsq.h>
#include <lowbit/modules/quant/qvit_act.h>
#include <lowbit/modules/taps/taps.h>

#include "support/error_of.h"

#include <gtest/gtest.h>

#include <torch/torch.h>

#include <cmath>

namespace {

using lowbit::layers::LinearQuantizers;
using lowbit::layers::QAttention;
using lowbit::layers::QAttentionOptions;
using lowbit::quant::QvitAct;
using lowbit::quant::QvitActOptions;
using lowbit::taps::TapRecord;
using lowbit::taps::TapRecorder;
using lowbit::testing::error_of;

// Q-ViT's quantizers at `bits` for a dim -> dim x `factor` linear layer.
LinearQuantizers qvit_linear(int64_t bits, int64_t in, int64_t out) {
  return {lowbit::quant::Lsq(lowbit::quant::LsqOptions(bits).per_channel(true).channels(out).init_per_channel(false)),
          QvitAct(QvitActOptions(bits).channels(in).channel_dim(-1))};
}

QAttentionOptions qvit_attention(int64_t dim, int64_t heads, int64_t bits) {
  const auto head_act = QvitAct(QvitActOptions(bits).channels(heads).channel_dim(1));
  return QAttentionOptions(dim, heads)
      .irm(true)
      .qkv(qvit_linear(bits, dim, 3 * dim))
      .proj(qvit_linear(bits, dim, dim))
      .q_quantizer(head_act)
      .k_quantizer(head_act)
      .v_quantizer(head_act)
      .attn_quantizer(head_act);
}

}  // namespace

TEST(QAttention, FullPrecisionIsMultiHeadSelfAttention) {
  torch::manual_seed(0);
  QAttention attn(8, 2);
  const auto x = torch::randn({2, 5, 8});
  const auto y = attn(x);

  const auto qkv = torch::nn::functional::linear(x, attn->qkv->weight, attn->qkv->bias);
  const auto q = qkv.slice(2, 0, 8).reshape({2, 5, 2, 4}).transpose(1, 2);
  const auto k = qkv.slice(2, 8, 16).reshape({2, 5, 2, 4}).transpose(1, 2);
  const auto v = qkv.slice(2, 16, 24).reshape({2, 5, 2, 4}).transpose(1, 2);
  const auto a = torch::softmax(q.matmul(k.transpose(-2, -1)) / 2.0, -1);
  const auto merged = a.matmul(v).transpose(1, 2).reshape({2, 5, 8});
  const auto expected = torch::nn::functional::linear(merged, attn->proj->weight, attn->proj->bias);
  EXPECT_TRUE(torch::allclose(y, expected, 1e-5, 1e-6));
}

TEST(QAttention, PublishesQueriesKeysValuesAndMaps) {
  QAttention attn(qvit_attention(12, 3, 4));
  TapRecord record;
  torch::Tensor y;
  {
    TapRecorder recorder(*attn, record);
    y = attn(torch::randn({2, 7, 12}));
  }
  // qkv and proj are QLinear layers, which publish their outputs too.
  EXPECT_EQ(record.names(),
            (std::vector<std::string>{"qkv.output", "q", "k", "v", "attn", "attn_quantized", "proj.output"}));
  for (const char* name : {"q", "k", "v"}) EXPECT_EQ(record.at(name).sizes(), torch::IntArrayRef({2, 3, 7, 4})) << name;
  for (const char* name : {"attn", "attn_quantized"}) {
    EXPECT_EQ(record.at(name).sizes(), torch::IntArrayRef({2, 3, 7, 7})) << name;
  }
  // "attn" is the softmax: rows sum to 1; "q" is what the attention consumed: quantized (on a
  // per-head grid of alpha_h, here with z_r = 0 after initialisation).
  EXPECT_TRUE(torch::allclose(record.at("attn").sum(-1), torch::ones({2, 3, 7})));
  auto* q_act = dynamic_cast<lowbit::quant::QvitActImpl*>(attn->q_act.get());
  ASSERT_NE(q_act, nullptr);
  const auto codes = record.at("q") / q_act->alpha.view({1, 3, 1, 1}) - torch::round(q_act->zero_point).view({1, 3, 1, 1});
  EXPECT_TRUE(torch::allclose(codes, torch::round(codes), 0, 1e-4));
  // attn_quantized is what multiplies v.
  const auto merged = record.at("attn_quantized").matmul(record.at("v")).transpose(1, 2).reshape({2, 7, 12});
  EXPECT_TRUE(torch::allclose(y, attn->proj(merged), 1e-5, 1e-6));
}

TEST(QAttention, IrmNormalisesQueriesAndKeysPerTokenAndHead) {
  torch::manual_seed(1);
  QAttention attn(QAttentionOptions(12, 3).irm(true));
  ASSERT_TRUE(attn->norm_q && attn->norm_k);
  EXPECT_EQ(attn->norm_q->options.normalized_shape(), std::vector<int64_t>({4}));
  TapRecord record;
  {
    TapRecorder recorder(*attn, record);
    attn(torch::randn({2, 6, 12}) * 3 + 1);
  }
  for (const char* name : {"q", "k"}) {
    const auto t = record.at(name);  // [B, H, N, d], gamma 1, beta 0 at initialisation
    EXPECT_TRUE(torch::allclose(t.mean(-1), torch::zeros({2, 3, 6}), 0, 1e-5)) << name;
    EXPECT_TRUE(torch::allclose(t.var(-1, /*unbiased=*/false), torch::ones({2, 3, 6}), 0, 1e-3)) << name;
  }
  EXPECT_FALSE(torch::allclose(record.at("v").mean(-1), torch::zeros({2, 3, 6}), 0, 1e-3));  // v is not normalised
  EXPECT_FALSE(QAttention(12, 3)->norm_q);
}

TEST(QAttention, BinaryMapWithZeroPointMinusOneIsAPerHeadThreshold) {
  // Bi-ViT: ActBi on the softmax with z_r = -1 gives A_b = 2 alpha_h 1[A > alpha_h].
  auto act = QvitAct(QvitActOptions(1).channels(2).channel_dim(1));
  {
    torch::NoGradGuard no_grad;
    act->alpha.copy_(torch::tensor({0.15, 0.25}));
    act->zero_point.fill_(-0.8);  // rounds to -1
    act->init_state.fill_(1);
  }
  QAttention attn(QAttentionOptions(8, 2).attn_quantizer(act));
  TapRecord record;
  {
    TapRecorder recorder(*attn, record);
    attn(torch::randn({3, 6, 8}) * 2);
  }
  const auto probs = record.at("attn"), binary = record.at("attn_quantized");
  for (int64_t h = 0; h < 2; ++h) {
    const double alpha = h == 0 ? 0.15 : 0.25;
    const auto expected = (probs.select(1, h) > alpha).to(torch::kFloat) * (2 * alpha);
    EXPECT_TRUE(torch::allclose(binary.select(1, h), expected)) << h;
    const auto levels = std::get<0>(at::_unique(binary.select(1, h)));
    EXPECT_LE(levels.numel(), 2);
  }
}

TEST(QAttention, GradientsReachEveryQuantizer) {
  QAttention attn(qvit_attention(8, 2, 3));
  attn(torch::randn({2, 5, 8})).pow(2).sum().backward();
  for (const auto& p : attn->named_parameters()) {
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
    const bool nonzero = p.value().grad().abs().sum().item<double>() > 0;
    // A zero point moves only when something is clamped; every other parameter must move.
    if (p.key().find("zero_point") == std::string::npos) EXPECT_TRUE(nonzero) << p.key();
  }
  for (const char* name : {"q_act.alpha", "k_act.alpha", "v_act.alpha", "attn_act.alpha", "qkv.weight_quantizer.step",
                           "qkv.input_quantizer.alpha", "proj.input_quantizer.zero_point", "norm_q.weight"}) {
    EXPECT_TRUE(attn->named_parameters().contains(name)) << name;
  }
}

TEST(QAttention, BiasOfTheLinearsIsAnOption) {
  QAttention attn(QAttentionOptions(8, 2).qkv_bias(false).proj_bias(false));
  EXPECT_FALSE(attn->named_parameters().contains("qkv.bias"));
  EXPECT_FALSE(attn->named_parameters().contains("proj.bias"));
  EXPECT_TRUE(QAttention(8, 2)->named_parameters().contains("qkv.bias"));
}

TEST(QAttention, BadOptionsAndInputsAreNamed) {
  EXPECT_NE(error_of([] { QAttention(64, 5); }).find("QAttention: heads (5) must divide dim (64)"), std::string::npos);
  EXPECT_NE(error_of([] { QAttention(0, 1); }).find("dim and heads must be positive"), std::string::npos);
  EXPECT_NE(error_of([] { QAttention(QAttentionOptions(8, 2).attn_drop(1.0)); }).find("dropout rates must be in [0, 1)"),
            std::string::npos);
  QAttention attn(8, 2);
  EXPECT_NE(error_of([&] { attn(torch::randn({2, 8})); }).find("QAttention(dim 8): expected input [B, N, 8], got shape [2, 8]"),
            std::string::npos);
  // A per-head quantizer with the wrong head count fails at its first forward, naming both.
  QAttention wrong(QAttentionOptions(8, 2).q_quantizer(QvitAct(QvitActOptions(4).channels(3).channel_dim(1))));
  EXPECT_NE(error_of([&] { wrong(torch::randn({1, 3, 8})); }).find("3 channels (alpha, zero_point) along channel_dim 1"),
            std::string::npos);
}
