#include <lowbit/modules/detection/quantization.h>

#include <lowbit/csrc/util/option_error.h>
#include <lowbit/csrc/util/suggest.h>
#include <lowbit/modules/quant/registry.h>


namespace lowbit::detection {

std::set<DetrPart> parse_detr_parts(const std::vector<std::string>& names) {
  std::set<DetrPart> parts;
  for (const auto& name : names) {
    parts.insert(static_cast<DetrPart>(util::choose("part", name, {"backbone", "encoder", "decoder", "ffn"})));
  }
  return parts;
}

DistributionAlignmentPlacement parse_distribution_alignment(const std::string& name) {
  return static_cast<DistributionAlignmentPlacement>(
      util::choose("distribution_alignment placement", name, {"none", "self", "self_cross"}));
}

namespace {

bool is_real(const models::QuantizerChoice& choice) { return choice.name.empty() || choice.name == "identity"; }

QuantizerFactory weights(const models::QuantPolicy& policy, bool is_end) {
  if (is_real(policy.weight)) return {};
  return [policy, is_end](int64_t channels) { return policy.weight_quantizer(is_end, channels); };
}

// channel_dim: 1 for a convolution's input [B, C, H, W], -1 for tokens [B, N, C].
QuantizerFactory inputs(const models::QuantPolicy& policy, bool is_end, int64_t channel_dim) {
  if (is_real(policy.input)) return {};
  return [policy, is_end, channel_dim](int64_t channels) {
    return policy.input_quantizer(is_end, channels, channel_dim);
  };
}

// The policy with both specs at `bits` (Q-DETR's 8-bit stem).
models::QuantPolicy at_bits(models::QuantPolicy policy, int64_t bits) {
  for (auto* choice : {&policy.weight, &policy.input}) {
    if (is_real(*choice)) continue;
    LOWBIT_CHECK_OPTION(choice->params.count("bits"), "stem_bits", "stem_bits: the quantizer '", choice->name,
                        "' has no bits option to set; use stem_bits: 0 for a real-valued stem");
    choice->params["bits"] = bits;
  }
  return policy;
}

// Per-head quantizers of q, k, v and the attention probabilities ([B, H, N, .], heads on dim 1).
QuantizerFactory heads(const std::string& name, int64_t bits) {
  if (name.empty() || name == "identity") return {};
  return [name, bits](int64_t heads) {
    Params params{{"bits", bits}};
    if (quant::takes_channels(name)) params["channels"] = heads;
    if (quant::takes_channel_dim(name)) params["channel_dim"] = int64_t{1};
    try {
      return quant::make(name, params);
    } catch (const c10::Error& e) {
      throw OptionError({"attention_quantizer"}, "attention_quantizer: " + e.msg(), e.msg());
    }
  };
}

}  // namespace

ResNetBodyOptions DetrQuantization::backbone(ResNetBodyOptions body) const {
  if (!quantizes(DetrPart::Backbone)) return body;
  if (stem_bits > 0) {
    const auto stem = at_bits(policy, stem_bits);
    body.stem_quantizers({weights(stem, false), inputs(stem, false, 1)});
  }
  return body.block_quantizers({weights(policy, false), inputs(policy, false, 1)})
      .downsample_quantizers({weights(policy, true), inputs(policy, true, 1)});
}

TransformerQuantizers DetrQuantization::transformer() const {
  const auto attention = [&](bool quantized, bool projection_weights) {
    AttentionQuantizers a;
    if (!quantized) return a;
    if (projection_weights) a.in_proj.weight = a.out_proj.weight = weights(policy, false);
    if (quantize_attention_inputs) a.in_proj.input = a.out_proj.input = inputs(policy, false, -1);
    a.heads = heads(attention_quantizer, attention_bits);
    return a;
  };
  const bool decoder = quantizes(DetrPart::Decoder);
  TransformerQuantizers t;
  t.encoder_self_attn = attention(quantizes(DetrPart::Encoder), true);
  t.decoder_self_attn = attention(decoder, true);
  t.decoder_self_attn.distribution_alignment = decoder && distribution_alignment != DistributionAlignmentPlacement::None;
  t.decoder_cross_attn = attention(decoder, quantize_cross_attention_weights);
  t.decoder_cross_attn.distribution_alignment =
      decoder && distribution_alignment == DistributionAlignmentPlacement::SelfAndCross;
  if (quantizes(DetrPart::Ffn)) {
    const LayerQuantizers linear{weights(policy, false), inputs(policy, false, -1)};
    t.encoder_ffn = t.decoder_ffn = {linear, linear};
  }
  return t;
}

}  // namespace lowbit::detection
