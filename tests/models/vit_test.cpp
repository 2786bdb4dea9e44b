// The ViT / DeiT builders: what Q-ViT and Bi-ViT settings quantize, names, the distilled
// heads, taps of every block, state round trip, bad options.
#include <lowbit/csrc/engine/checkpoint/load_state.h>
#include <lowbit/csrc/engine/task/classifier.h>
#include <lowbit/modules/layers/transformer.h>
#include <lowbit/modules/models/registry.h>
#include <lowbit/modules/quant/lsq.h>
#include <lowbit/modules/quant/qvit_act.h>
#include <lowbit/modules/quant/sign.h>
#include <lowbit/modules/quant/xnor.h>
#include <lowbit/modules/taps/taps.h>

#include "support/error_of.h"

#include <gtest/gtest.h>

#include <torch/torch.h>

#include <sstream>

namespace {

using lowbit::layers::QLinearImpl;
using lowbit::models::QuantPolicy;
using lowbit::quant::QvitActImpl;
using lowbit::testing::error_of;

QuantPolicy qvit_policy(int64_t bits) {
  QuantPolicy policy;
  policy.weight = {"lsq", {{"bits", bits}, {"per_channel", true}, {"init_per_channel", false}}};
  policy.input = {"qvit_act", {{"bits", bits}}};
  return policy;
}

lowbit::Params qvit_params(int64_t bits) {
  return {{"embed_bits", int64_t{8}}, {"head_bits", int64_t{8}}, {"attention_bits", bits},
          {"irm", true},              {"gelu_clip", 10.0},       {"distilled", true}};
}

QuantPolicy bivit_policy() {
  QuantPolicy policy;
  policy.weight = {"xnor", {{"scale_grad", std::string("detached")}}};
  policy.input = {"sign", {{"ste", std::string("approx")}}};
  return policy;
}

lowbit::Params bivit_params() {
  return {{"attention_bits", int64_t{1}}, {"irm", true},         {"linear_bias", false},
          {"gelu_clip", 10.0},           {"distilled", true}};
}

// The QLinear layers under `prefix`, by qualified name.
std::vector<std::pair<std::string, QLinearImpl*>> linears(torch::nn::Module& model, const std::string& prefix) {
  std::vector<std::pair<std::string, QLinearImpl*>> found;
  for (const auto& item : model.named_modules()) {
    if (auto* linear = dynamic_cast<QLinearImpl*>(item.value().get()); linear && item.key().rfind(prefix, 0) == 0) {
      found.emplace_back(item.key(), linear);
    }
  }
  return found;
}

template <typename Impl>
Impl* child_as(torch::nn::Module& model, const std::string& name) {
  return dynamic_cast<Impl*>(model.named_modules()[name].get());
}

}  // namespace

TEST(VitBuilder, DeitSmallW4A4IsQvit) {
  auto model = lowbit::models::make("deit_small", qvit_params(4), qvit_policy(4));
  const auto blocks = linears(*model, "blocks.");
  ASSERT_EQ(blocks.size(), 48u);  // qkv, proj, fc1, fc2 in 12 blocks
  for (const auto& [name, linear] : blocks) {
    auto* weight = dynamic_cast<lowbit::quant::LsqImpl*>(linear->weight_quantizer.get());
    auto* input = dynamic_cast<QvitActImpl*>(linear->input_quantizer.get());
    ASSERT_TRUE(weight && input) << name;
    EXPECT_EQ(weight->bits(), 4) << name;
    EXPECT_FALSE(weight->options.init_per_channel()) << name;
    EXPECT_EQ(weight->step.size(0), linear->options.out_features()) << name;
    EXPECT_EQ(input->bits(), 4) << name;
    EXPECT_EQ(input->options.channels(), linear->options.in_features()) << name;
    EXPECT_EQ(input->options.channel_dim(), -1) << name;
  }
  auto* proj = child_as<lowbit::layers::QConv2dImpl>(*model, "patch_embed.proj");
  ASSERT_NE(proj, nullptr);
  EXPECT_EQ(proj->weight_quantizer->bits(), 8);
  auto* embed_input = dynamic_cast<QvitActImpl*>(proj->input_quantizer.get());
  ASSERT_NE(embed_input, nullptr);
  EXPECT_EQ(embed_input->options.channels(), 3);
  EXPECT_EQ(embed_input->options.channel_dim(), 1);
  const auto heads = linears(*model, "heads.");
  ASSERT_EQ(heads.size(), 2u);
  for (const auto& [name, linear] : heads) {
    EXPECT_EQ(linear->weight_quantizer->bits(), 8) << name;
    EXPECT_EQ(linear->input_quantizer->bits(), 8) << name;
  }
  for (int64_t b = 0; b < 12; ++b) {
    auto* attn = child_as<lowbit::layers::QAttentionImpl>(*model, "blocks." + std::to_string(b) + ".attn");
    ASSERT_NE(attn, nullptr);
    EXPECT_TRUE(attn->norm_q && attn->norm_k) << b;
    for (const auto* q : {attn->q_act.get(), attn->k_act.get(), attn->v_act.get(), attn->attn_act.get()}) {
      auto* act = dynamic_cast<const QvitActImpl*>(q);
      ASSERT_NE(act, nullptr);
      EXPECT_EQ(act->bits(), 4);
      EXPECT_EQ(act->options.channels(), 6);
      EXPECT_EQ(act->options.channel_dim(), 1);
    }
  }
}

TEST(VitBuilder, BiDeitTinyIsBivit) {
  auto model = lowbit::models::make("deit_tiny", bivit_params(), bivit_policy());
  const auto blocks = linears(*model, "blocks.");
  ASSERT_EQ(blocks.size(), 48u);
  for (const auto& [name, linear] : blocks) {
    EXPECT_NE(dynamic_cast<lowbit::quant::XnorImpl*>(linear->weight_quantizer.get()), nullptr) << name;
    EXPECT_NE(dynamic_cast<lowbit::quant::SignImpl*>(linear->input_quantizer.get()), nullptr) << name;
    EXPECT_FALSE(linear->bias.defined()) << name;
  }
  auto* proj = child_as<lowbit::layers::QConv2dImpl>(*model, "patch_embed.proj");
  EXPECT_EQ(proj->weight_quantizer->bits(), 32);
  EXPECT_EQ(proj->input_quantizer->bits(), 32);
  for (const auto& [name, linear] : linears(*model, "heads.")) {
    EXPECT_EQ(linear->weight_quantizer->bits(), 32) << name;
    EXPECT_EQ(linear->input_quantizer->bits(), 32) << name;
    EXPECT_TRUE(linear->bias.defined()) << name;
  }
  int64_t act_bi = 0;
  for (const auto& item : model->named_modules()) {
    if (auto* act = dynamic_cast<QvitActImpl*>(item.value().get())) {
      EXPECT_EQ(act->bits(), 1) << item.key();
      EXPECT_EQ(act->options.channels(), 3) << item.key();
      ++act_bi;
    }
  }
  EXPECT_EQ(act_bi, 4 * 12);
}

TEST(VitBuilder, ParameterNamesFollowTimm) {
  auto model = lowbit::models::make("deit_tiny", qvit_params(4), qvit_policy(4));
  const auto params = model->named_parameters();
  for (const char* name :
       {"patch_embed.proj.weight", "patch_embed.proj.bias", "patch_embed.cls_token", "patch_embed.dist_token",
        "patch_embed.pos_embed", "blocks.0.norm1.weight", "blocks.0.attn.qkv.weight", "blocks.0.attn.qkv.bias",
        "blocks.0.attn.norm_q.weight", "blocks.0.attn.q_act.alpha", "blocks.0.attn.attn_act.zero_point",
        "blocks.11.attn.proj.weight", "blocks.11.norm2.bias", "blocks.11.mlp.fc1.weight", "blocks.11.mlp.fc2.bias",
        "blocks.3.mlp.fc1.weight_quantizer.step", "blocks.3.mlp.fc1.input_quantizer.alpha", "norm.weight",
        "heads.head.weight", "heads.head_dist.bias"}) {
    EXPECT_TRUE(params.contains(name)) << name;
  }
  EXPECT_EQ(params["patch_embed.pos_embed"].sizes(), torch::IntArrayRef({1, 198, 192}));
}

TEST(VitBuilder, DistilledModelReturnsClsInTrainingAndTheMeanInEval) {
  auto model = lowbit::models::make("deit_tiny", {{"image_size", int64_t{32}}, {"classes", int64_t{5}}, {"distilled", true}},
                                    QuantPolicy{});
  const auto images = torch::randn({3, 3, 32, 32});
  const auto cls = model->forward(images);
  EXPECT_EQ(cls.sizes(), torch::IntArrayRef({3, 5}));
  // As an engine model, the distillation head is the output "dist_logits".
  lowbit::engine::Classifier classifier(model);
  lowbit::engine::Batch batch;
  batch.images = images;
  const auto outputs = classifier.forward(batch);
  ASSERT_EQ(outputs.size(), 2u);
  EXPECT_TRUE(torch::allclose(outputs.at("logits"), cls));
  const auto dist = outputs.at("dist_logits");
  EXPECT_EQ(dist.sizes(), torch::IntArrayRef({3, 5}));
  model->eval();
  EXPECT_TRUE(torch::allclose(model->forward(images), (cls + dist) / 2, 1e-5, 1e-6));
}

TEST(VitBuilder, EveryBlockPublishesItsAttention) {
  auto model = lowbit::models::make("vit", {{"attention_bits", int64_t{4}}, {"irm", true}, {"depth", int64_t{3}}},
                                    qvit_policy(4));
  lowbit::taps::TapRecord record;
  {
    lowbit::taps::TapRecorder recorder(*model, record, {R"(\.attn\.(q|k|attn|attn_quantized)$)"});
    model->forward(torch::randn({2, 1, 28, 28}));
  }
  ASSERT_EQ(record.size(), 12u);
  for (int64_t b = 0; b < 3; ++b) {
    const auto prefix = "blocks." + std::to_string(b) + ".attn.";
    EXPECT_EQ(record.at(prefix + "q").sizes(), torch::IntArrayRef({2, 4, 17, 16}));  // 16 patches + cls, 64 / 4
    EXPECT_EQ(record.at(prefix + "k").sizes(), torch::IntArrayRef({2, 4, 17, 16}));
    EXPECT_EQ(record.at(prefix + "attn").sizes(), torch::IntArrayRef({2, 4, 17, 17}));
    EXPECT_EQ(record.at(prefix + "attn_quantized").sizes(), torch::IntArrayRef({2, 4, 17, 17}));
  }
}

TEST(VitBuilder, EndsTakeThePolicyWithoutExplicitBits) {
  auto policy = qvit_policy(3);
  policy.full_precision_ends = false;
  auto model = lowbit::models::make("vit", {}, policy);
  auto* proj = child_as<lowbit::layers::QConv2dImpl>(*model, "patch_embed.proj");
  EXPECT_EQ(proj->weight_quantizer->bits(), 3);
  EXPECT_EQ(dynamic_cast<QvitActImpl*>(proj->input_quantizer.get())->options.channel_dim(), 1);
  EXPECT_EQ(linears(*model, "heads.")[0].second->weight_quantizer->bits(), 3);
  auto fp_ends = lowbit::models::make("vit", {{"embed_bits", int64_t{32}}}, policy);
  EXPECT_EQ(child_as<lowbit::layers::QConv2dImpl>(*fp_ends, "patch_embed.proj")->weight_quantizer->bits(), 32);
}

TEST(VitBuilder, StateRoundTripsThroughSaveAndLoad) {
  torch::manual_seed(7);
  const auto make = [] { return lowbit::models::make("vit", qvit_params(3), qvit_policy(3)); };
  auto model = make();
  const auto images = torch::randn({4, 1, 28, 28});
  torch::optim::Adam adam(model->parameters(), 1e-2);
  for (int step = 0; step < 2; ++step) {  // lazy initialisation, then learned steps and zero points
    adam.zero_grad();
    model->forward(images).pow(2).mean().backward();
    adam.step();
  }
  model->eval();
  const auto expected = model->forward(images);
  std::stringstream stream;
  torch::save(model, stream);
  auto restored = make();
  torch::load(restored, stream);
  restored->eval();
  EXPECT_TRUE(torch::equal(restored->forward(images), expected));
  auto* act = child_as<QvitActImpl>(*restored, "blocks.1.attn.attn_act");
  EXPECT_TRUE(act->initialized());
  EXPECT_FALSE(act->is_signed());  // softmax probabilities
}

TEST(VitBuilder, BadOptionsAreNamed) {
  const auto msg = [](const std::string& model, const lowbit::Params& params) {
    return error_of([&] { lowbit::models::make(model, params, QuantPolicy{}); });
  };
  EXPECT_NE(msg("vit", {{"heads", int64_t{3}}}).find("model 'vit': heads (3) must divide dim (64)"), std::string::npos);
  EXPECT_NE(msg("deit_small", {{"embed_bits", int64_t{0}}})
                .find("model 'deit_small': embed_bits must be 32 (full precision) or in [1, 16], got 0"),
            std::string::npos);
  EXPECT_NE(msg("vit", {{"attention_bits", int64_t{20}}}).find("attention_bits must be 32 (full precision) or in [1, 16]"),
            std::string::npos);
  EXPECT_NE(msg("vit", {{"patch_size", int64_t{5}}}).find("patch_size 5 must divide image_size 28"), std::string::npos);
  EXPECT_NE(msg("deit_small", {{"dim", int64_t{64}}}).find("unknown option 'dim'"), std::string::npos);
  EXPECT_NE(msg("vit", {{"drop_path", 1.0}}).find("drop_path must be in [0, 1), got 1"), std::string::npos);
  EXPECT_NE(msg("vit", {{"depth", int64_t{0}}}).find("must be positive"), std::string::npos);
}

// The two renames of docs/methods/qvit.md load a timm / DeiT state dict (distilled, here with
// one block) into a full-precision lowbit ViT, strictly.
TEST(VitBuilder, TimmStateDictLoadsWithTwoRenames) {
  auto model = lowbit::models::make("vit", {{"depth", int64_t{1}}, {"distilled", true}}, QuantPolicy{});
  std::vector<std::string> timm_keys = {"cls_token", "dist_token", "pos_embed", "patch_embed.proj.weight",
                                        "patch_embed.proj.bias", "norm.weight", "norm.bias", "head.weight",
                                        "head.bias", "head_dist.weight", "head_dist.bias"};
  for (const char* key : {"norm1", "attn.qkv", "attn.proj", "norm2", "mlp.fc1", "mlp.fc2"}) {
    timm_keys.push_back("blocks.0." + std::string(key) + ".weight");
    timm_keys.push_back("blocks.0." + std::string(key) + ".bias");
  }
  const lowbit::engine::NameMap renames{{"^(cls_token|dist_token|pos_embed)$", "patch_embed.$1"},
                                        {"^(head|head_dist)\\.", "heads.$1."}};
  auto params = model->named_parameters();
  lowbit::engine::NamedTensors state;
  for (const auto& key : timm_keys) {
    const auto name = renames.apply(key);
    ASSERT_TRUE(params.contains(name)) << key << " -> " << name;
    state.insert(key, torch::full_like(params[name], 0.5));
  }
  lowbit::engine::load_into(*model, state, lowbit::engine::LoadOptions().renames(renames));
  EXPECT_TRUE(torch::equal(params["heads.head_dist.weight"], torch::full_like(params["heads.head_dist.weight"], 0.5)));
}
