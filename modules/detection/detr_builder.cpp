// The registered detectors `detr` and `qdetr`: one builder, two sets of defaults.
//
//   option                            default (detr / qdetr)   meaning
//   backbone                          resnet50                 resnet18 | resnet50 | resnet101 (FrozenBatchNorm2d, layer4)
//   backbone_activation               relu                     relu | rprelu (resnet_block.h)
//   hidden                            256                      d_model (even; position encoding d/2 + d/2)
//   heads                             8                        attention heads, divide hidden
//   enc_layers, dec_layers            6, 6                     encoder (>= 0) and decoder (>= 1) layers
//   ffn                               2048                     feed-forward width
//   dropout                           0.1                      transformer dropout
//   queries                           100                      object queries
//   classes                           91                       K (official COCO: max category id + 1)
//   label_space                       category_id              category_id | contiguous (label_space.h)
//   aux_loss                          true                     losses of every decoder layer
//   set_cost_class, set_cost_bbox,    1, 5, 2                  Hungarian matching weights
//     set_cost_giou
//   ce_loss_coef, bbox_loss_coef,     1, 5, 2                  loss weights
//     giou_loss_coef
//   eos_coef                          0.1                      no-object class weight
//   quantize                          [backbone, encoder,      the parts using the recipe's quantizers
//                                      decoder, ffn]           ([] none; Q-DETR stage 1: [backbone])
//   stem_bits                         8                        the stem's bits (0: real)
//   attention_quantizer               "" / qvit_act            q, k, v, attention probabilities
//   attention_bits                    8
//   distribution_alignment            none / self              none | self | self_cross
//   quantize_attention_inputs         false
//   quantize_cross_attention_weights  true
// The names of the matching and loss weights are the official command-line arguments (main.py).
// Q-DETR's decisions and their reasons: quantization.h. With the recipe's quantizers left
// empty, `detr` is the real-valued DETR; `qdetr` then still has its 8-bit attention operands.
#include <lowbit/modules/detection/detr.h>
#include <lowbit/modules/detection/quantization.h>
#include <lowbit/modules/detection/registry.h>

#include <array>

namespace lowbit::detection {
namespace {

struct Defaults {
  std::string attention_quantizer, distribution_alignment;
};

TransformerOptions read_transformer(ParamReader& p) {
  const auto hidden = p.get<int64_t>("hidden", 256), heads = p.get<int64_t>("heads", 8);
  LOWBIT_CHECK_OPTION(hidden > 0 && hidden % 2 == 0, "hidden", "detr: hidden must be positive and even, got ", hidden);
  LOWBIT_CHECK_OPTION(heads > 0 && hidden % heads == 0, "heads", "detr: heads must divide hidden (", hidden, "), got ",
                      heads);
  auto o = TransformerOptions(hidden, heads)
               .encoder_layers(p.get<int64_t>("enc_layers", 6))
               .decoder_layers(p.get<int64_t>("dec_layers", 6))
               .dim_feedforward(p.get<int64_t>("ffn", 2048))
               .dropout(p.get<double>("dropout", 0.1));
  LOWBIT_CHECK_OPTION(o.encoder_layers() >= 0, "enc_layers", "detr: enc_layers must be >= 0, got ", o.encoder_layers());
  LOWBIT_CHECK_OPTION(o.decoder_layers() >= 1, "dec_layers", "detr: dec_layers must be >= 1, got ", o.decoder_layers());
  LOWBIT_CHECK_OPTION(o.dim_feedforward() > 0, "ffn", "detr: ffn must be positive, got ", o.dim_feedforward());
  LOWBIT_CHECK_OPTION(o.dropout() >= 0 && o.dropout() < 1, "dropout", "detr: dropout must be in [0, 1), got ",
                      o.dropout());
  return o;
}

double non_negative(ParamReader& p, const std::string& key, double fallback) {
  const auto value = p.get<double>(key, fallback);
  LOWBIT_CHECK_OPTION(value >= 0, key, "detr: ", key, " must be >= 0, got ", value);
  return value;
}

SetCriterionOptions read_criterion(ParamReader& p, int64_t classes) {
  MatcherCosts costs;
  costs.cost_class = non_negative(p, "set_cost_class", costs.cost_class);
  costs.cost_bbox = non_negative(p, "set_cost_bbox", costs.cost_bbox);
  costs.cost_giou = non_negative(p, "set_cost_giou", costs.cost_giou);
  LOWBIT_CHECK_OPTION(costs.cost_class + costs.cost_bbox + costs.cost_giou > 0, "set_cost_class",
                      "detr: the matching costs cannot all be 0");
  return SetCriterionOptions(classes)
      .costs(costs)
      .ce_loss_coef(non_negative(p, "ce_loss_coef", 1))
      .bbox_loss_coef(non_negative(p, "bbox_loss_coef", 5))
      .giou_loss_coef(non_negative(p, "giou_loss_coef", 2))
      .eos_coef(non_negative(p, "eos_coef", 0.1))
      .aux_loss(p.get<bool>("aux_loss", true));
}

DetrQuantization read_quantization(ParamReader& p, const models::QuantPolicy& policy, const Defaults& d) {
  DetrQuantization q;
  q.policy = policy;
  const auto parts = p.get<std::vector<std::string>>("quantize", {"backbone", "encoder", "decoder", "ffn"});
  try {
    q.parts = parse_detr_parts(parts);
  } catch (const c10::Error& e) {
    p.fail("quantize", e.msg());
  }
  q.stem_bits = p.get<int64_t>("stem_bits", q.stem_bits);
  LOWBIT_CHECK_OPTION(q.stem_bits >= 0, "stem_bits", "detr: stem_bits must be >= 0 (0: real), got ", q.stem_bits);
  q.attention_quantizer = p.get<std::string>("attention_quantizer", d.attention_quantizer);
  q.attention_bits = p.get<int64_t>("attention_bits", q.attention_bits);
  q.distribution_alignment = p.parsed("distribution_alignment", d.distribution_alignment, parse_distribution_alignment);
  q.quantize_attention_inputs = p.get<bool>("quantize_attention_inputs", q.quantize_attention_inputs);
  q.quantize_cross_attention_weights = p.get<bool>("quantize_cross_attention_weights", q.quantize_cross_attention_weights);
  return q;
}

std::shared_ptr<Detector> build(ParamReader& p, const models::QuantPolicy& policy, const Defaults& d) {
  const int64_t depth = std::array<int64_t, 3>{18, 50, 101}[p.choice("backbone", "resnet50", {"resnet18", "resnet50", "resnet101"})];
  const auto body = ResNetBodyOptions(depth).activation(
      p.parsed("backbone_activation", "relu", parse_backbone_activation));
  auto transformer = read_transformer(p);
  const auto classes = p.get<int64_t>("classes", 91), queries = p.get<int64_t>("queries", 100);
  LOWBIT_CHECK_OPTION(classes >= 1, "classes", "detr: classes must be >= 1, got ", classes);
  LOWBIT_CHECK_OPTION(queries >= 1, "queries", "detr: queries must be >= 1, got ", queries);
  const auto label_space = p.parsed("label_space", "category_id", parse_label_space);
  const auto criterion = read_criterion(p, classes);
  const auto quantization = read_quantization(p, policy, d);
  transformer.quantizers(quantization.transformer());
  return DETR(DETROptions(quantization.backbone(body), transformer)
                  .classes(classes)
                  .queries(queries)
                  .label_space(label_space)
                  .criterion(criterion))
      .ptr();
}

}  // namespace

LOWBIT_REGISTER_DETECTOR(detr, [](ParamReader& p, const models::QuantPolicy& policy) {
  return build(p, policy, {"", "none"});
});
LOWBIT_REGISTER_DETECTOR(qdetr, [](ParamReader& p, const models::QuantPolicy& policy) {
  return build(p, policy, {"qvit_act", "self"});
});

}  // namespace lowbit::detection
