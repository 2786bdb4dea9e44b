// lowbit export of vision transformers (ViT / DeiT, Swin's shifted windows) + lowbit::deploy::Model:
// Q-ViT (LSQ weights as codes, ActQ inputs and attention on uniform grids, IRM), Bi-ViT (binary
// weights and sign inputs on the binary GEMM, 1-bit ActBi attention), TerViT (ternary weights, 8-bit
// inputs) and full precision give the training graph's eval-mode outputs, with DeiT's distillation
// head: exactly
// where the runtime makes the training graph's float calls (a difference in the last bit before an
// 8-bit quantizer rounds some of its values the other way), within 1e-4 on the binary GEMM.
#include <lowbit/csrc/deploy/export.h>
#include <lowbit/csrc/deploy/model.h>
#include <lowbit/modules/models/registry.h>

#include "support/deployed_outputs.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <map>
#include <string>

namespace deploy_transformer_test {  // named: unity builds join test files

using lowbit::deploy::LbmKind;
using lowbit::deploy::LbmRecord;
using lowbit::deploy::Model;

// The Fashion-MNIST ViT of the recipes (7x7 patches, dim 64, 2 blocks, 4 heads), distilled.
lowbit::Params small_vit(const lowbit::Params& extra) {
  lowbit::Params p{{"image_size", int64_t{28}}, {"patch_size", int64_t{7}}, {"in_channels", int64_t{1}},
                   {"classes", int64_t{10}},    {"dim", int64_t{64}},       {"depth", int64_t{2}},
                   {"heads", int64_t{4}},       {"distilled", true}};
  for (const auto& [key, value] : extra) p[key] = value;
  return p;
}

// The network with random biases (timm starts them at 0), after one training-mode forward, which
// initialises the LSQ steps and the ActQ states from its batch, then in eval mode.
torch::nn::Sequential initialised(const std::string& model, const lowbit::Params& params,
                                  const lowbit::models::QuantPolicy& policy) {
  auto net = lowbit::models::make(model, params, policy);
  torch::NoGradGuard no_grad;
  for (auto& p : net->named_parameters()) {
    if (p.key().find("bias") != std::string::npos) p.value().normal_(0, 0.1);
  }
  net->train();
  net->forward(torch::randn({8, 1, 28, 28}));
  net->eval();
  return net;
}

std::vector<LbmRecord> exported(torch::nn::Module& net, const std::string& model = "vit") {
  lowbit::deploy::ModelInput input;
  input.channels = 1;
  input.height = input.width = 28;
  return lowbit::deploy::export_network(net, model, input);
}

void expect_same_outputs(torch::nn::Sequential net, const std::vector<LbmRecord>& records, double tolerance) {
  const auto model = Model::parse(lowbit::deploy::serialize_lbm(records), "vit.lbm");
  lowbit::testing::expect_deployed_outputs(std::move(net), model, torch::randn({3, 1, 28, 28}), tolerance);
}

int64_t count(const std::vector<LbmRecord>& records, LbmKind kind) {
  int64_t n = 0;
  for (const auto& r : records) n += r.kind == kind;
  return n;
}

std::string description(const std::vector<LbmRecord>& records) {
  return std::string(records.front().payload.begin(), records.front().payload.end());
}

}  // namespace deploy_transformer_test

TEST(DeployTransformer, QvitW4A4OnUniformGridsWithIrm) {
  using namespace deploy_transformer_test;
  torch::manual_seed(10);
  const lowbit::models::QuantPolicy policy{
      {"lsq", {{"bits", int64_t{4}}, {"per_channel", true}, {"init_per_channel", false}}},
      {"qvit_act", {{"bits", int64_t{4}}}}};
  auto net = initialised("vit",
                         small_vit({{"embed_bits", int64_t{8}}, {"head_bits", int64_t{8}}, {"attention_bits", int64_t{4}},
                                    {"irm", true}, {"gelu_clip", 10.0}}),
                         policy);
  const auto records = exported(*net);
  const auto text = description(records);
  EXPECT_NE(text.find("input: uniform"), std::string::npos) << text;
  EXPECT_NE(text.find("attn_act: uniform"), std::string::npos) << text;
  EXPECT_NE(text.find("op: layer_norm, name: blocks.0.attn.norm_q"), std::string::npos) << text;
  EXPECT_EQ(count(records, LbmKind::Binary) + count(records, LbmKind::Ternary), 0);
  // The blocks' linears as 4-bit codes, the patch embedding and the heads as 8-bit ones.
  std::map<std::string, int> bits;
  for (const auto& r : records) {
    if (r.kind == LbmKind::Codes) bits[r.name] = r.bits;
  }
  EXPECT_EQ(bits["blocks.0.attn.qkv.weight"], 4);
  EXPECT_EQ(bits["blocks.1.mlp.fc2.weight"], 4);
  EXPECT_EQ(bits.size(), 8u + 3u) << "codes records: " << bits.size();
  // 4 bits per weight and a float scale per row of 64: 32 64 / (4 64 + 32) = 7.1x or more.
  const auto sizes = lowbit::deploy::packed_sizes(records);
  EXPECT_GE(static_cast<double>(sizes.codes_float32) / static_cast<double>(sizes.codes), 4.0);
  expect_same_outputs(net, records, 0);
}

// With biases: Bi-ViT's own linears have none, and then fc1's dot products of +-1 rows are often
// exactly 0, which the deployed integer sum keeps and the training graph's float sum rounds to a
// tiny value of either sign, which GELU and fc2's sign turn into +-1 (docs/export.md, exactness).
TEST(DeployTransformer, BivitW1A1RunsItsBinaryLinearsOnPackedBits) {
  using namespace deploy_transformer_test;
  torch::manual_seed(11);
  const lowbit::models::QuantPolicy policy{{"xnor", {{"scale_grad", std::string("detached")}}},
                                           {"sign", {{"ste", std::string("approx")}}}};
  auto net = initialised(
      "vit", small_vit({{"attention_bits", int64_t{1}}, {"irm", true}, {"linear_bias", true}, {"gelu_clip", 10.0}}),
      policy);
  const auto records = exported(*net);
  EXPECT_EQ(count(records, LbmKind::Binary), 8);  // qkv, proj, fc1, fc2 of both blocks
  const auto text = description(records);
  EXPECT_NE(text.find("input: sign"), std::string::npos) << text;
  EXPECT_NE(text.find("sign: true"), std::string::npos) << text;  // ActBi's 1-bit grids
  expect_same_outputs(net, records, 1e-4);
}

TEST(DeployTransformer, TervitW2A8StoresTernaryBlockWeights) {
  using namespace deploy_transformer_test;
  torch::manual_seed(12);
  const lowbit::models::QuantPolicy policy{
      {"ternary", {{"scale", std::string("twn")}, {"delta", 0.7}, {"per_channel", true}}},
      {"qvit_act", {{"bits", int64_t{8}}}}};
  auto net = initialised("vit", small_vit({{"embed_bits", int64_t{8}}, {"head_bits", int64_t{8}}}), policy);
  const auto records = exported(*net);
  EXPECT_EQ(count(records, LbmKind::Ternary), 8);
  expect_same_outputs(net, records, 0);
  // 2 bits per weight and a float scale per row: 32 64 / (2 64 + 32) = 12.8x at width 64 (15.4x
  // at DeiT-Small's 384, bench/deploy_bench).
  const auto sizes = lowbit::deploy::packed_sizes(records);
  EXPECT_GE(static_cast<double>(sizes.float32) / static_cast<double>(sizes.packed), 12.0);
}

TEST(DeployTransformer, FullPrecisionVit) {
  using namespace deploy_transformer_test;
  torch::manual_seed(13);
  auto net = initialised("vit", small_vit({}), {{"identity", {}}, {"identity", {}}});
  const auto records = exported(*net);
  EXPECT_EQ(count(records, LbmKind::Binary) + count(records, LbmKind::Ternary), 0);
  expect_same_outputs(net, records, 0);
}

// Swin (the `swin` model: 28x28 images, patch 2, embed 32, depths [2, 2], heads [2, 4], window 7):
// stage 0 on the 2x2 windows of its 14x14 grid, the second block's shifted by 3 (its mask), patch
// merging, stage 1 on one 7x7 window, then the norm, the mean of the tokens and the head.
TEST(DeployTransformer, SwinOnShiftedWindowsWithPatchMerging) {
  using namespace deploy_transformer_test;
  struct Case {
    std::string label;
    lowbit::models::QuantPolicy policy;
    lowbit::Params params;
    double tolerance;
  };
  const std::vector<Case> cases = {
      {"Q-ViT W4A4",
       {{"lsq", {{"bits", int64_t{4}}, {"per_channel", true}, {"init_per_channel", false}}}, {"qvit_act", {{"bits", int64_t{4}}}}},
       {{"attention_bits", int64_t{4}}, {"irm", true}},
       0},
      {"TerViT W2A8",
       {{"ternary", {{"scale", std::string("twn")}, {"delta", 0.7}, {"per_channel", true}}}, {"qvit_act", {{"bits", int64_t{8}}}}},
       {{"embed_bits", int64_t{8}}, {"head_bits", int64_t{8}}},
       0},
      {"Bi-ViT W1A1",
       {{"xnor", {{"scale_grad", std::string("detached")}}}, {"sign", {{"ste", std::string("approx")}}}},
       {{"attention_bits", int64_t{1}}, {"linear_bias", true}},
       1e-4},
      {"full precision", {{"identity", {}}, {"identity", {}}}, {}, 0}};
  for (const auto& c : cases) {
    SCOPED_TRACE(c.label);
    torch::manual_seed(14);
    auto net = initialised("swin", c.params, c.policy);
    const auto records = exported(*net, "swin");
    const auto text = description(records);
    EXPECT_NE(text.find("window: 7"), std::string::npos) << text;
    EXPECT_NE(text.find("shift: 3"), std::string::npos) << text;
    EXPECT_NE(text.find("op: patch_merge, name: layers.1.downsample, side: 14"), std::string::npos) << text;
    EXPECT_NE(text.find("op: mean_tokens"), std::string::npos) << text;
    expect_same_outputs(net, records, c.tolerance);
  }
}
