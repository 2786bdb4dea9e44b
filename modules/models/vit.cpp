// Vision transformers (ViT, Dosovitskiy et al. ICLR 2021; DeiT, Touvron et al. ICML 2021), full
// precision or quantized as Q-ViT (Li et al. NeurIPS 2022) / Bi-ViT (Li et al. AAAI 2024) /
// TerViT, built from modules/layers/{qattention,transformer}.h:
//
//   deit_tiny  dim 192, depth 12, heads 3     patch 16, image 224, mlp_ratio 4
//   deit_small dim 384, depth 12, heads 6
//   deit_base  dim 768, depth 12, heads 12
//   vit        any shape; defaults for 28x28 Fashion-MNIST: image_size 28, patch_size 7,
//              in_channels 1, classes 10, dim 64, depth 2, heads 4, mlp_ratio 4
//
// The model is a Sequential of four named children, so that parameter names are timm's up to
// two renames (docs/methods/qvit.md has the map for DeiT / Q-ViT checkpoints):
//   patch_embed  PatchEmbed (proj, cls_token, dist_token, pos_embed)   timm: cls_token, ... at the top
//   blocks       TransformerBlocks "0", "1", ... (norm1, attn.{qkv, proj, norm_q, norm_k, q_act, k_act,
//                v_act, attn_act}, norm2, mlp.{fc1, fc2})
//   norm         LayerNorm(dim, eps 1e-6)
//   heads        VitHeads (head, head_dist)                             timm: head, head_dist at the top
// Distilled (DeiT): in training the model returns the cls head's logits, in eval the mean of both
// heads; its `heads` layer has named outputs (layers::NamedOutputs), so the engine's Classifier
// reports the distillation head's logits as the output "dist_logits".
//
// Quantization (model options; bits 32 = full precision):
//   block linears (qkv, proj, fc1, fc2): the recipe's weight_quantizer / input_quantizer (the
//       policy), inputs per feature along the last axis (channel_dim -1)
//   embed_bits, head_bits: the patch embedding / classifier heads with Q-ViT's 8-bit machinery at
//       these bits: lsq weights per output channel, initialised from the whole tensor, and
//       qvit_act inputs per channel; absent: the policy's quantizers for the ends (full precision
//       with full_precision_ends, the default)
//   attention_bits: qvit_act on q, k, v and the softmax map, per head (1: Bi-ViT's ActBi);
//       absent: full precision
//   irm (false): Q-ViT's information rectification, LayerNorm(head_dim) on q and k
//   linear_bias (true): bias of the block linears (Bi-ViT's code drops it)
//   gelu_clip (0): clip GELU's output in the MLP to [-c, c] (Q-ViT / Bi-ViT: 10)
//   drop_path (0): stochastic depth rate of the last block (linear in depth from 0, as timm)
//   distilled (false): DeiT's distillation token and second head
// Q-ViT W4A4: weight {lsq, bits 4, per_channel, init_per_channel: false}, input {qvit_act, bits 4},
// embed_bits 8, head_bits 8, attention_bits 4, irm, gelu_clip 10. Bi-ViT W1A1: weight {xnor,
// scale_grad: detached}, input {sign, ste: approx}, attention_bits 1, irm, linear_bias false,
// gelu_clip 10, full-precision ends.
#include <lowbit/modules/layers/transformer.h>
#include <lowbit/modules/models/registry.h>
#include <lowbit/modules/quant/lsq.h>
#include <lowbit/modules/quant/qvit_act.h>

#include <torch/nn/modules/normalization.h>

#include <optional>
#include <string>

namespace lowbit::models {
namespace {

using layers::LinearQuantizers;

struct VitShape {
  int64_t image_size, patch_size, in_channels, classes, dim, depth, heads;
  double mlp_ratio;
};

// A model option giving a bit width: absent, 32 (full precision) or in [1, 16].
std::optional<int64_t> read_bits(ParamReader& p, const std::string& model, const std::string& key) {
  const auto bits = p.optional<int64_t>(key);
  LOWBIT_CHECK_OPTION(!bits || *bits == 32 || (*bits >= 1 && *bits <= 16), key, "model '", model, "': ", key,
                      " must be 32 (full precision) or in [1, 16], got ", *bits);
  return bits;
}

// Q-ViT's quantizers of a layer at `bits` (LinearQ / Conv2dQ: Quant.py): weight steps per output
// channel initialised from the whole weight, input step and zero point per input channel.
LinearQuantizers qvit_quantizers(int64_t bits, int64_t out_channels, int64_t in_channels, int64_t input_dim) {
  if (bits == 32) return {};
  return {quant::Lsq(quant::LsqOptions(bits).per_channel(true).channels(out_channels).init_per_channel(false)),
          quant::QvitAct(quant::QvitActOptions(bits).channels(in_channels).channel_dim(input_dim))};
}

// The quantizers of a network end (patch embedding, heads): Q-ViT's at `bits`, else the policy's.
LinearQuantizers end_quantizers(const std::optional<int64_t>& bits, const QuantPolicy& policy, int64_t out_channels,
                                int64_t in_channels, int64_t input_dim) {
  if (bits) return qvit_quantizers(*bits, out_channels, in_channels, input_dim);
  return {policy.weight_quantizer(true, out_channels), policy.input_quantizer(true, in_channels, input_dim)};
}

LinearQuantizers block_quantizers(const QuantPolicy& policy, int64_t out_features, int64_t in_features) {
  return {policy.weight_quantizer(false, out_features), policy.input_quantizer(false, in_features, -1)};
}

torch::nn::Sequential build_vit(const std::string& model, const VitShape& s, ParamReader& p, const QuantPolicy& policy) {
  const auto owner = "model '" + model + "': ";
  for (const auto& [key, positive] : {std::pair{"dim", s.dim > 0}, std::pair{"depth", s.depth > 0},
                                      std::pair{"heads", s.heads > 0}, std::pair{"classes", s.classes > 0},
                                      std::pair{"mlp_ratio", s.mlp_ratio > 0}}) {
    LOWBIT_CHECK_OPTION(positive, key, owner, key, " must be positive");
  }
  LOWBIT_CHECK_OPTION(s.dim % s.heads == 0, "heads", owner, "heads (", s.heads, ") must divide dim (", s.dim, ")");
  const auto embed_bits = read_bits(p, model, "embed_bits");
  const auto head_bits = read_bits(p, model, "head_bits");
  const auto attention_bits = read_bits(p, model, "attention_bits");
  const bool irm = p.get<bool>("irm", false);
  const bool linear_bias = p.get<bool>("linear_bias", true);
  const double gelu_clip = p.get<double>("gelu_clip", 0.0);
  const double drop_path = p.get<double>("drop_path", 0.0);
  const bool distilled = p.get<bool>("distilled", false);
  LOWBIT_CHECK_OPTION(drop_path >= 0 && drop_path < 1, "drop_path", owner, "drop_path must be in [0, 1), got ", drop_path);
  const int64_t hidden = static_cast<int64_t>(static_cast<double>(s.dim) * s.mlp_ratio);

  torch::nn::Sequential net;
  net->push_back("patch_embed",
                 layers::PatchEmbed(layers::PatchEmbedOptions(s.image_size, s.patch_size, s.in_channels, s.dim)
                                        .distilled(distilled)
                                        .proj(end_quantizers(embed_bits, policy, s.dim, s.in_channels, 1))));
  quant::Quantizer head_act = nullptr;
  if (attention_bits && *attention_bits != 32) {
    head_act = quant::QvitAct(quant::QvitActOptions(*attention_bits).channels(s.heads).channel_dim(1));
  }
  std::vector<layers::TransformerBlockOptions> blocks;
  for (int64_t i = 0; i < s.depth; ++i) {
    const double rate = s.depth > 1 ? drop_path * static_cast<double>(i) / static_cast<double>(s.depth - 1) : 0.0;
    auto attn = layers::QAttentionOptions(s.dim, s.heads)
                    .qkv_bias(linear_bias)
                    .proj_bias(linear_bias)
                    .irm(irm)
                    .qkv(block_quantizers(policy, 3 * s.dim, s.dim))
                    .proj(block_quantizers(policy, s.dim, s.dim))
                    .q_quantizer(head_act)
                    .k_quantizer(head_act)
                    .v_quantizer(head_act)
                    .attn_quantizer(head_act);
    auto mlp = layers::QMlpOptions(s.dim, hidden)
                   .bias(linear_bias)
                   .gelu_clip(gelu_clip)
                   .fc1(block_quantizers(policy, hidden, s.dim))
                   .fc2(block_quantizers(policy, s.dim, hidden));
    blocks.push_back(layers::TransformerBlockOptions(attn, mlp).drop_path(rate));
  }
  net->push_back("blocks", layers::TransformerBlocks(blocks));
  net->push_back("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({s.dim}).eps(1e-6)));
  net->push_back("heads", layers::VitHeads(layers::VitHeadsOptions(s.dim, s.classes)
                                               .distilled(distilled)
                                               .head(end_quantizers(head_bits, policy, s.classes, s.dim, -1))
                                               .head_dist(end_quantizers(head_bits, policy, s.classes, s.dim, -1))));
  return net;
}

// DeiT at ImageNet settings; image_size and classes may change (fine-tuning, small tests).
Factory deit(std::string model, int64_t dim, int64_t heads) {
  return [model, dim, heads](ParamReader& p, const QuantPolicy& policy) {
    VitShape s{p.get<int64_t>("image_size", 224), 16, 3, p.get<int64_t>("classes", 1000), dim, 12, heads, 4.0};
    return build_vit(model, s, p, policy);
  };
}

torch::nn::Sequential vit(ParamReader& p, const QuantPolicy& policy) {
  VitShape s{p.get<int64_t>("image_size", 28), p.get<int64_t>("patch_size", 7), p.get<int64_t>("in_channels", 1),
             p.get<int64_t>("classes", 10),    p.get<int64_t>("dim", 64),       p.get<int64_t>("depth", 2),
             p.get<int64_t>("heads", 4),       p.get<double>("mlp_ratio", 4.0)};
  return build_vit("vit", s, p, policy);
}

}  // namespace

LOWBIT_REGISTER_MODEL(deit_tiny, deit("deit_tiny", 192, 3));
LOWBIT_REGISTER_MODEL(deit_small, deit("deit_small", 384, 6));
LOWBIT_REGISTER_MODEL(deit_base, deit("deit_base", 768, 12));
LOWBIT_REGISTER_MODEL(vit, vit);

}  // namespace lowbit::models
