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
//   blocks       transformer_blocks "0", "1", ... (norm1, attn.{qkv, proj, norm_q, norm_k, q_act, k_act,
//                v_act, attn_act}, norm2, mlp.{fc1, fc2})
//   norm         LayerNorm(dim, eps 1e-6)
//   heads        VitHeads (head, head_dist)                             timm: head, head_dist at the top
// Distilled (DeiT): in training the model returns the cls head's logits, in eval the mean of both
// heads; its `heads` layer has named outputs (layers::NamedOutputs), so the engine's Classifier
// reports the distillation head's logits as the output "dist_logits".
//
// Quantization: the transformer options shared with Swin (modules/models/transformer_options.h:
// embed_bits, head_bits, attention_bits, irm, linear_bias, gelu_clip, drop_path), and
//   distilled (false): DeiT's distillation token and second head
#include <lowbit/modules/layers/transformer.h>
#include <lowbit/modules/models/registry.h>
#include <lowbit/modules/models/transformer_options.h>

#include <torch/nn/modules/normalization.h>

#include <string>

namespace lowbit::models {
namespace {

struct VitShape {
  int64_t image_size, patch_size, in_channels, classes, dim, depth, heads;
  double mlp_ratio;
};

torch::nn::Sequential build_vit(const std::string& model, const VitShape& s, ParamReader& p, const QuantPolicy& policy) {
  const auto owner = "model '" + model + "': ";
  for (const auto& [key, positive] : {std::pair{"dim", s.dim > 0}, std::pair{"depth", s.depth > 0},
                                      std::pair{"heads", s.heads > 0}, std::pair{"classes", s.classes > 0},
                                      std::pair{"mlp_ratio", s.mlp_ratio > 0}}) {
    LOWBIT_CHECK_OPTION(positive, key, owner, key, " must be positive");
  }
  LOWBIT_CHECK_OPTION(s.dim % s.heads == 0, "heads", owner, "heads (", s.heads, ") must divide dim (", s.dim, ")");
  const auto t = read_transformer_options(p, model);
  const bool distilled = p.get<bool>("distilled", false);
  const int64_t hidden = static_cast<int64_t>(static_cast<double>(s.dim) * s.mlp_ratio);

  torch::nn::Sequential net;
  net->push_back("patch_embed",
                 layers::PatchEmbed(layers::PatchEmbedOptions(s.image_size, s.patch_size, s.in_channels, s.dim)
                                        .distilled(distilled)
                                        .proj(end_quantizers(t.embed_bits, policy, s.dim, s.in_channels, 1))));
  std::vector<layers::TransformerBlockOptions> blocks;
  for (int64_t i = 0; i < s.depth; ++i) {
    blocks.push_back(transformer_block(t, policy, s.dim, s.heads, hidden, drop_path_rate(t.drop_path, i, s.depth)));
  }
  net->push_back("blocks", layers::transformer_blocks(blocks));
  net->push_back("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({s.dim}).eps(1e-6)));
  net->push_back("heads", layers::VitHeads(layers::VitHeadsOptions(s.dim, s.classes)
                                               .distilled(distilled)
                                               .head(end_quantizers(t.head_bits, policy, s.classes, s.dim, -1))
                                               .head_dist(end_quantizers(t.head_bits, policy, s.classes, s.dim, -1))));
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
