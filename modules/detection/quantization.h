#pragma once
// Q-DETR (Xu et al., CVPR 2023; spec ../shared/methods/qdetr.md): which layers of DETR go
// low-bit, with which quantizers. The recipe's weight and input quantizer specs (a
// models::QuantPolicy; Q-DETR: {name: lsq, bits: b, per_channel: true, init_per_channel: false}
// for weights, {name: qvit_act, bits: a} for activations, the LSQ / LSQ+ of spec §2) serve every
// quantized layer; this plan says where they go.
//
//   part      layers (spec §1, the modules of the paper's Fig. 2.11)
//   backbone  the residual branches' convolutions: weight + input (policy); stem conv1: the
//             policy's specs at `stem_bits` (8; 0 = real); the shortcuts' 1x1 convolutions: the
//             policy's "ends", real under full_precision_ends (the default, as the spec)
//   encoder   encoder self-attention: in_proj / out_proj weights (policy), q, k, v and the
//             attention probabilities per head (`attention_quantizer` at `attention_bits`)
//   decoder   decoder self- and cross-attention, likewise; Distribution Alignment on the queries
//   ffn       linear1 / linear2 of every encoder and decoder layer: weight + input (policy)
// Always real: input_proj, query_embed, class_embed, bbox_embed, LayerNorms, softmax.
//
// Decisions where the spec leaves a choice (spec §7), each an option:
// - attention_bits 8, attention_quantizer qvit_act (LSQ+ per head, signedness from the first
//   batch: exactly the third-party ActLSQ): "W-A-Attention" = b-b-8 even for 2-bit models (§7.6).
// - quantize_attention_inputs false: the third-party code feeds the raw query / key / value and
//   the raw attended features to the projections (only their weights are quantized); true adds
//   the policy's input quantizer in front of in_proj (query_input_quantizer, ...) and out_proj
//   (out_proj.input_quantizer), Eq. 2.25 read literally.
// - quantize_cross_attention_weights true: the paper (Eq. 2.26) quantizes the co-attention's
//   projections; the third-party code leaves them real (§7.2); false follows the code.
// - distribution_alignment: none | self | self_cross. `self` (the qdetr default): DA on the decoder
//   self-attention queries only, where the third-party code enables it; `self_cross` also on the
//   cross-attention queries (the paper's intent, §3, §7.2). DA exists only where the decoder is
//   quantized (stage 1, backbone only, has none): it rectifies the queries that enter the 8-bit
//   quantizer.
// - Activation channels (§7.5): the policy's input quantizer is per channel when it takes a
//   channel count (qvit_act: the QuantPolicy fills channels and channel_dim); `channels: 1` in the
//   recipe's spec makes it per tensor, as Eq. 2.25's scalar alpha_x.
// - Backbone activation (detr option backbone_activation): relu (DETR, the paper) or rprelu (the
//   third-party quantized ResNet); see resnet_block.h.

#include <lowbit/modules/detection/backbone.h>
#include <lowbit/modules/detection/transformer.h>
#include <lowbit/modules/models/quant_policy.h>

#include <set>
#include <string>
#include <vector>

namespace lowbit::detection {

enum class DetrPart { Backbone, Encoder, Decoder, Ffn };
enum class DistributionAlignmentPlacement { None, Self, SelfAndCross };

// Any of "backbone", "encoder", "decoder", "ffn"; throws naming an unknown one (with a suggestion).
std::set<DetrPart> parse_detr_parts(const std::vector<std::string>& names);
DistributionAlignmentPlacement parse_distribution_alignment(const std::string& name);  // none | self | self_cross

struct DetrQuantization {
  models::QuantPolicy policy;
  std::set<DetrPart> parts = {DetrPart::Backbone, DetrPart::Encoder, DetrPart::Decoder, DetrPart::Ffn};
  int64_t stem_bits = 8;
  std::string attention_quantizer;  // "" or "identity": real attention operands
  int64_t attention_bits = 8;
  DistributionAlignmentPlacement distribution_alignment = DistributionAlignmentPlacement::None;
  bool quantize_attention_inputs = false;
  bool quantize_cross_attention_weights = true;

  // `body` with its stem, block and downsample quantizers filled in.
  ResNetBodyOptions backbone(ResNetBodyOptions body) const;
  TransformerQuantizers transformer() const;

  bool quantizes(DetrPart part) const { return parts.count(part) > 0; }
};

}  // namespace lowbit::detection
