// Q-DETR: quantizers where the spec puts them (and none where it keeps DETR real), 8-bit
// attention operands, Distribution Alignment on the decoder queries, gradients to the quantizers'
// steps and DA, the co-attended taps DRD reads, stage 1 (backbone only).
#include <lowbit/modules/detection/attention.h>
#include <lowbit/modules/detection/registry.h>
#include <lowbit/modules/losses/drd.h>
#include <lowbit/modules/quant/lsq.h>
#include <lowbit/modules/quant/qvit_act.h>
#include <lowbit/modules/taps/taps.h>

#include "detection/tiny_detr.h"

#include <gtest/gtest.h>

#include <torch/torch.h>

#include <regex>

namespace {

using lowbit::Params;
using lowbit::quant::LsqImpl;
using lowbit::quant::QuantizerImpl;
using lowbit::quant::QvitActImpl;
using lowbit::testing::lsq_policy;
using lowbit::testing::tiny_batch;
using lowbit::testing::tiny_detr_params;
namespace detection = lowbit::detection;

std::shared_ptr<detection::Detector> qdetr(const Params& extra = {}) {
  return detection::make("qdetr", tiny_detr_params(extra), lsq_policy(4));
}

std::map<std::string, std::shared_ptr<torch::nn::Module>> modules_of(const torch::nn::Module& model) {
  std::map<std::string, std::shared_ptr<torch::nn::Module>> out;
  for (const auto& m : model.named_modules()) out[m.key()] = m.value();
  return out;
}

// The bits of the quantizer at `name` (32: identity).
int64_t bits(const std::map<std::string, std::shared_ptr<torch::nn::Module>>& modules, const std::string& name) {
  const auto it = modules.find(name);
  if (it == modules.end()) ADD_FAILURE() << "no module " << name;
  const auto* quantizer = it == modules.end() ? nullptr : dynamic_cast<QuantizerImpl*>(it->second.get());
  if (it != modules.end() && !quantizer) ADD_FAILURE() << name << " is not a quantizer";
  return quantizer ? quantizer->bits() : -1;
}

// An identity quantizer that keeps what it sees.
struct Spy : lowbit::quant::QuantizerCloneable<Spy> {
  explicit Spy(int64_t options_ = 0) : QuantizerCloneable("Spy"), options(options_) {}
  void reset() override {}
  torch::Tensor forward(const torch::Tensor& x) override {
    seen->push_back(x);
    return x;
  }
  int64_t options;
  std::vector<torch::Tensor>* seen = nullptr;
};

}  // namespace

TEST(QDetr, QuantizersSitWhereTheSpecPutsThem) {
  const auto model = qdetr();
  const auto m = modules_of(*model);
  const std::string body = "backbone.0.body.", enc = "transformer.encoder.layers.0.", dec = "transformer.decoder.layers.1.";
  // Backbone: 8-bit stem, b-bit residual convolutions (weights and inputs), real shortcuts.
  EXPECT_EQ(bits(m, body + "conv1.weight_quantizer"), 8);
  EXPECT_EQ(bits(m, body + "conv1.input_quantizer"), 8);
  EXPECT_EQ(bits(m, body + "layer1.0.conv1.weight_quantizer"), 4);
  EXPECT_EQ(bits(m, body + "layer3.1.conv2.input_quantizer"), 4);
  EXPECT_EQ(bits(m, body + "layer2.0.downsample.0.weight_quantizer"), 32);
  EXPECT_EQ(bits(m, body + "layer2.0.downsample.0.input_quantizer"), 32);
  // Attention: b-bit projections, 8-bit per-head operands, raw projection inputs.
  for (const auto& attn : {enc + "self_attn.", dec + "self_attn.", dec + "multihead_attn."}) {
    EXPECT_EQ(bits(m, attn + "in_proj_weight_quantizer"), 4) << attn;
    EXPECT_EQ(bits(m, attn + "out_proj.weight_quantizer"), 4) << attn;
    for (const auto* op : {"q_act", "k_act", "v_act", "attn_act"}) {
      EXPECT_EQ(bits(m, attn + op), 8) << attn << op;
      const auto* act = dynamic_cast<QvitActImpl*>(m.at(attn + op).get());
      ASSERT_NE(act, nullptr);
      EXPECT_EQ(act->options.channels(), 4);  // per head
      EXPECT_EQ(act->options.channel_dim(), 1);
    }
    EXPECT_EQ(bits(m, attn + "query_input_quantizer"), 32) << attn;
    EXPECT_EQ(bits(m, attn + "out_proj.input_quantizer"), 32) << attn;
  }
  const auto* in_proj = dynamic_cast<LsqImpl*>(m.at(enc + "self_attn.in_proj_weight_quantizer").get());
  EXPECT_EQ(in_proj->step.numel(), 3 * 32);  // per output row of in_proj_weight
  // FFNs: b-bit weights and inputs.
  EXPECT_EQ(bits(m, enc + "linear1.weight_quantizer"), 4);
  EXPECT_EQ(bits(m, dec + "linear2.input_quantizer"), 4);
  // Real: input_proj, query_embed, heads, LayerNorms (plain torch modules, no quantizer children).
  for (const auto& name : {"input_proj", "class_embed", "bbox_embed.layers.0", "transformer.decoder.norm"}) {
    for (const auto& child : m) EXPECT_NE(child.first.rfind(std::string(name) + ".", 0), 0u) << child.first;
  }
  EXPECT_TRUE(m.count("input_proj") && m.count("class_embed"));
}

TEST(QDetr, DistributionAlignmentSitsOnTheDecoderQueries) {
  auto m = modules_of(*qdetr());
  for (const auto* layer : {"transformer.decoder.layers.0.", "transformer.decoder.layers.1."}) {
    EXPECT_TRUE(m.count(std::string(layer) + "self_attn.norm_q")) << layer;
    EXPECT_FALSE(m.count(std::string(layer) + "multihead_attn.norm_q")) << layer;
  }
  EXPECT_FALSE(m.count("transformer.encoder.layers.0.self_attn.norm_q"));
  m = modules_of(*qdetr({{"distribution_alignment", std::string("self_cross")}}));
  EXPECT_TRUE(m.count("transformer.decoder.layers.0.multihead_attn.norm_q"));
  const auto params = qdetr()->named_parameters();
  EXPECT_EQ(params["transformer.decoder.layers.0.self_attn.norm_q.scale"].sizes(), (std::vector<int64_t>{1, 1, 1, 8}));
  EXPECT_EQ(params["transformer.decoder.layers.0.self_attn.norm_q.bias"].sizes(), (std::vector<int64_t>{8}));
}

TEST(QDetr, DistributionAlignmentStandardisesTheQueriesBeforeTheirQuantizer) {
  // DA then q_act: with DA's gamma 1, beta 0 the tensor q_act receives has per-head mean 0.
  detection::AttentionQuantizers quantizers;
  quantizers.distribution_alignment = true;
  std::vector<torch::Tensor> seen;
  auto spy = std::make_shared<Spy>();
  spy->seen = &seen;
  detection::MultiheadAttention attn(detection::MultiheadAttentionOptions(16, 2).quantizers(quantizers));
  attn->q_act = attn->replace_module("q_act", lowbit::quant::Quantizer(spy));
  attn(torch::randn({2, 3, 16}) * 5 + 2, torch::randn({2, 4, 16}), torch::randn({2, 4, 16}));
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].sizes(), (std::vector<int64_t>{2, 2, 3, 8}));
  EXPECT_LT(seen[0].mean(-1).abs().max().item<double>(), 1e-5);
  EXPECT_TRUE(torch::allclose(seen[0].var(-1), torch::ones({2, 2, 3}), 1e-3, 1e-3));
}

TEST(QDetr, GradientsReachTheQuantizerStepsAndDA) {
  torch::manual_seed(5);
  auto model = qdetr();
  model->train();
  const auto batch = tiny_batch(2);
  torch::Tensor total = torch::zeros({});
  for (const auto& entry : model->loss(model->forward(batch.images, batch.mask), batch.targets)) total = total + entry.second;
  total.backward();
  // (Decoder layer 0's self-attention starts from tgt = 0: its values are the bias alone, so its
  // queries get no gradient in DETR either; layer 1 is checked there.)
  const auto params = model->named_parameters();
  for (const auto* name : {"backbone.0.body.layer2.0.conv1.weight_quantizer.step",
                           "backbone.0.body.layer3.0.conv2.input_quantizer.alpha",
                           "transformer.encoder.layers.0.self_attn.in_proj_weight_quantizer.step",
                           "transformer.decoder.layers.1.multihead_attn.q_act.alpha",
                           "transformer.decoder.layers.1.multihead_attn.attn_act.alpha",
                           "transformer.decoder.layers.1.self_attn.v_act.alpha",
                           "transformer.decoder.layers.0.linear1.input_quantizer.alpha",
                           "transformer.decoder.layers.1.self_attn.norm_q.scale",
                           "transformer.decoder.layers.1.self_attn.norm_q.bias"}) {
    const auto& grad = params[name].grad();
    ASSERT_TRUE(grad.defined()) << name;
    EXPECT_GT(grad.abs().sum().item<double>(), 0) << name;
  }
  // DETR's rule freezes the stem and layer1, their quantizers included.
  EXPECT_FALSE(params["backbone.0.body.conv1.weight_quantizer.step"].requires_grad());
}

TEST(QDetr, DecoderCrossAttentionPublishesTheCoAttendedFeaturesDrdReads) {
  torch::manual_seed(6);
  auto model = qdetr({{"dec_layers", int64_t{3}}});
  const auto batch = tiny_batch(2);
  lowbit::taps::TapRecord record;
  {
    lowbit::taps::TapRecorder recorder(*model, record);
    model->forward(batch.images, batch.mask);
  }
  const std::regex drd_default(lowbit::losses::DrdOptions(0.5).feature_pattern());
  std::vector<std::string> matched;
  for (const auto& name : record.names()) {
    if (std::regex_search(name, drd_default)) matched.push_back(name);
  }
  EXPECT_EQ(matched, (std::vector<std::string>{"transformer.decoder.layers.0.multihead_attn.attended",
                                               "transformer.decoder.layers.1.multihead_attn.attended",
                                               "transformer.decoder.layers.2.multihead_attn.attended"}));
  for (const auto& name : matched) EXPECT_EQ(record.at(name).sizes(), (std::vector<int64_t>{2, 5, 32})) << name;
}

TEST(QDetr, StageOneQuantizesOnlyTheBackbone) {
  auto model = qdetr({{"quantize", std::vector<std::string>{"backbone"}}});
  const auto m = modules_of(*model);
  EXPECT_EQ(bits(m, "backbone.0.body.layer4.1.conv2.weight_quantizer"), 4);
  for (const auto& [name, module] : m) {
    if (name.rfind("transformer.", 0) != 0) continue;
    const auto* quantizer = dynamic_cast<QuantizerImpl*>(module.get());
    if (quantizer) EXPECT_EQ(quantizer->bits(), 32) << name;
    EXPECT_EQ(name.find("norm_q"), std::string::npos) << name;
  }
}

TEST(QDetr, OptionsChangeWhatIsQuantized) {
  auto m = modules_of(*qdetr({{"quantize_attention_inputs", true},
                              {"quantize_cross_attention_weights", false},
                              {"attention_bits", int64_t{6}},
                              {"stem_bits", int64_t{0}}}));
  EXPECT_EQ(bits(m, "backbone.0.body.conv1.weight_quantizer"), 32);
  EXPECT_EQ(bits(m, "transformer.encoder.layers.0.self_attn.query_input_quantizer"), 4);
  EXPECT_EQ(bits(m, "transformer.encoder.layers.0.self_attn.out_proj.input_quantizer"), 4);
  EXPECT_EQ(bits(m, "transformer.decoder.layers.0.multihead_attn.in_proj_weight_quantizer"), 32);
  EXPECT_EQ(bits(m, "transformer.decoder.layers.0.self_attn.in_proj_weight_quantizer"), 4);
  EXPECT_EQ(bits(m, "transformer.decoder.layers.0.multihead_attn.k_act"), 6);
  // detr with the same policy: quantized layers, but real attention operands and no DA.
  m = modules_of(*lowbit::detection::make("detr", tiny_detr_params(), lsq_policy(4)));
  EXPECT_EQ(bits(m, "transformer.decoder.layers.0.self_attn.in_proj_weight_quantizer"), 4);
  EXPECT_EQ(bits(m, "transformer.decoder.layers.0.self_attn.q_act"), 32);
  EXPECT_FALSE(m.count("transformer.decoder.layers.0.self_attn.norm_q"));
}

TEST(QDetr, AttentionQuantizerErrorsNameTheirOption) {
  try {
    qdetr({{"attention_quantizer", std::string("qvit_ac")}});
    ADD_FAILURE() << "no error";
  } catch (const lowbit::OptionError& e) {
    EXPECT_EQ(e.key_path(), "attention_quantizer");
    EXPECT_NE(e.msg().find("did you mean 'qvit_act'"), std::string::npos) << e.msg();
  }
  try {
    detection::make("qdetr", tiny_detr_params(), lowbit::models::QuantPolicy{{"sign", {}}, {}, true});
    ADD_FAILURE() << "no error";
  } catch (const lowbit::OptionError& e) {
    EXPECT_EQ(e.key_path(), "stem_bits");
  }
}
