// The ViT parts around the attention: the clipped MLP, the pre-norm block with stochastic
// depth, the patch embedding with cls / distillation tokens, the (distilled) heads.
#include <lowbit/modules/layers/transformer.h>
#include <lowbit/modules/taps/taps.h>

#include "support/error_of.h"

#include <gtest/gtest.h>

#include <torch/torch.h>

using namespace lowbit::layers;
using lowbit::testing::error_of;

TEST(TruncNormal, HasStdAndBounds) {
  torch::manual_seed(0);
  const auto t = trunc_normal_(torch::empty({100000}), 0.02);
  EXPECT_NEAR(t.std().item<double>(), 0.02, 5e-4);
  EXPECT_NEAR(t.mean().item<double>(), 0.0, 5e-4);
  const auto cut = trunc_normal_(torch::empty({10000}), 1.0, 0.0, -0.5, 0.5);
  EXPECT_LE(cut.abs().max().item<double>(), 0.5);
  EXPECT_GT(cut.std().item<double>(), 0.25);  // not collapsed onto the bounds
}

TEST(QMlp, ClipsGeluOutputBeforeFc2) {
  QMlp mlp(QMlpOptions(3, 3).gelu_clip(10.0));
  {
    torch::NoGradGuard no_grad;
    mlp->fc1->weight.copy_(torch::eye(3) * 100);
    mlp->fc1->bias.zero_();
    mlp->fc2->weight.copy_(torch::eye(3));
    mlp->fc2->bias.zero_();
  }
  const auto x = torch::tensor({{-0.5, 0.05, 2.0}});
  EXPECT_TRUE(torch::allclose(mlp(x), torch::gelu(x * 100).clamp(-10, 10)));
  EXPECT_NEAR(mlp(x)[0][2].item<double>(), 10.0, 1e-6);
  QMlp unclipped(QMlpOptions(3, 3));
  {
    torch::NoGradGuard no_grad;
    unclipped->fc1->weight.copy_(torch::eye(3) * 100);
    unclipped->fc2->weight.copy_(torch::eye(3));
  }
  EXPECT_NEAR(unclipped(x)[0][2].item<double>(), 200.0 + unclipped->fc2->bias[2].item<double>(), 1e-3);
  EXPECT_NE(error_of([] { QMlp(QMlpOptions(3, 3).gelu_clip(-1)); }).find("gelu_clip must be >= 0"), std::string::npos);
}

TEST(QMlp, LinearsStartAsTimm) {
  torch::manual_seed(2);
  QMlp mlp(QMlpOptions(256, 512));
  EXPECT_NEAR(mlp->fc1->weight.std().item<double>(), 0.02, 1e-3);
  EXPECT_EQ(mlp->fc1->bias.abs().sum().item<double>(), 0.0);
}

TEST(TransformerBlock, IsPreNormResidual) {
  torch::manual_seed(3);
  TransformerBlock block(TransformerBlockOptions(QAttentionOptions(8, 2), QMlpOptions(8, 16)));
  const auto x = torch::randn({2, 4, 8});
  const auto y = x + block->attn(block->norm1(x));
  EXPECT_TRUE(torch::allclose(block(x), y + block->mlp(block->norm2(y)), 1e-5, 1e-6));
  EXPECT_DOUBLE_EQ(block->norm1->options.eps(), 1e-6);
  EXPECT_NE(error_of([] { TransformerBlock(TransformerBlockOptions(QAttentionOptions(8, 2), QMlpOptions(6, 16))); })
                .find("attention width 8 differs from the MLP's 6"),
            std::string::npos);
}

TEST(TransformerBlock, DropPathDropsWholeSamplesInTrainingOnly) {
  torch::manual_seed(4);
  TransformerBlock block(TransformerBlockOptions(QAttentionOptions(8, 2), QMlpOptions(8, 16)).drop_path(0.8));
  const auto x = torch::randn({64, 3, 8});
  const auto y = block(x);
  int64_t untouched = 0;
  for (int64_t b = 0; b < 64; ++b) untouched += torch::equal(y[b], x[b]);
  EXPECT_GT(untouched, 10);  // both branches dropped: probability 0.64
  EXPECT_LT(untouched, 64);
  block->eval();
  const auto e = x + block->attn(block->norm1(x));
  EXPECT_TRUE(torch::allclose(block(x), e + block->mlp(block->norm2(e)), 1e-5, 1e-6));
}

TEST(TransformerBlocks, RunInOrderUnderIndexNames) {
  std::vector<TransformerBlockOptions> options(3, TransformerBlockOptions(QAttentionOptions(8, 2), QMlpOptions(8, 16)));
  auto blocks = transformer_blocks(options);
  EXPECT_TRUE(blocks->named_parameters().contains("2.attn.qkv.weight"));
  const auto x = torch::randn({1, 3, 8});
  const auto block = [&](size_t i) { return blocks[i]->as<TransformerBlock>(); };
  EXPECT_TRUE(torch::allclose(blocks(x), block(2)->forward(block(1)->forward(block(0)->forward(x)))));
  auto copy = std::dynamic_pointer_cast<lowbit::layers::StageImpl>(blocks->clone());
  ASSERT_NE(copy, nullptr);
  EXPECT_TRUE(torch::allclose(copy->forward(x), blocks(x)));
}

TEST(PatchEmbed, TokensAreClsDistThenPatchesWithPositions) {
  PatchEmbed embed(PatchEmbedOptions(8, 4, 1, 6).distilled(true));
  EXPECT_EQ(embed->tokens(), 6);
  const auto images = torch::randn({2, 1, 8, 8});
  const auto t = embed(images);
  EXPECT_EQ(t.sizes(), torch::IntArrayRef({2, 6, 6}));
  const auto pos = embed->pos_embed[0];
  EXPECT_TRUE(torch::allclose(t[1][0], embed->cls_token[0][0] + pos[0]));
  EXPECT_TRUE(torch::allclose(t[1][1], embed->dist_token[0][0] + pos[1]));
  // Patch (row 1, col 0) is token 2 + 2: the conv over images[:, :, 4:8, 0:4].
  const auto patch = images[1].slice(1, 4, 8).slice(2, 0, 4);
  const auto projected = (embed->proj->weight * patch.unsqueeze(0)).sum({1, 2, 3}) + embed->proj->bias;
  EXPECT_TRUE(torch::allclose(t[1][4], projected + pos[4], 1e-5, 1e-6));
  EXPECT_FALSE(PatchEmbed(PatchEmbedOptions(8, 4, 1, 6))->dist_token.defined());
}

TEST(PatchEmbed, WrongSizesAreNamed) {
  EXPECT_NE(error_of([] { PatchEmbed(PatchEmbedOptions(28, 5, 1, 8)); }).find("patch_size 5 must divide image_size 28"),
            std::string::npos);
  PatchEmbed embed(PatchEmbedOptions(28, 7, 1, 8));
  EXPECT_NE(error_of([&] { embed(torch::randn({2, 1, 32, 32})); })
                .find("PatchEmbed: expected images [B, 1, 28, 28], got shape [2, 1, 32, 32]"),
            std::string::npos);
}

TEST(VitHeads, DistilledOutputsBothHeadsAndEvalAverages) {
  VitHeads heads(VitHeadsOptions(4, 3).distilled(true));
  const auto tokens = torch::randn({2, 5, 4});
  const auto cls = heads->head(tokens.select(1, 0)), dist = heads->head_dist(tokens.select(1, 1));
  EXPECT_TRUE(torch::allclose(heads(tokens), cls));
  auto outputs = heads->outputs(tokens);
  ASSERT_EQ(outputs.size(), 2u);
  EXPECT_EQ(outputs[0].first, "logits");
  EXPECT_TRUE(torch::allclose(outputs[0].second, cls));
  EXPECT_EQ(outputs[1].first, "dist_logits");
  EXPECT_TRUE(torch::allclose(outputs[1].second, dist));
  heads->eval();
  EXPECT_TRUE(torch::allclose(heads(tokens), (cls + dist) / 2));
  outputs = heads->outputs(tokens);
  EXPECT_TRUE(torch::allclose(outputs[0].second, (cls + dist) / 2));
  EXPECT_TRUE(torch::allclose(outputs[1].second, dist));
  VitHeads plain(VitHeadsOptions(4, 3));
  EXPECT_FALSE(plain->head_dist);
  EXPECT_EQ(plain->outputs(tokens).size(), 1u);
  EXPECT_TRUE(torch::allclose(plain(tokens), plain->head(tokens.select(1, 0))));
}
