// Swin Transformer (Liu et al. ICCV 2021), full precision or quantized as Q-ViT (Li et al. NeurIPS
// 2022) / Bi-ViT (Li et al. AAAI 2024; YanjingLi0202/Bi-ViT bi_swin_transformer.py) / TerViT, as
// timm 1.0.31's swin_transformer.py, built from modules/layers/{transformer,swin,windows}.h:
//
//   swin_tiny   embed_dim 96,  depths 2, 2, 6, 2,  heads 3, 6, 12, 24    patch 4, window 7,
//   swin_small  embed_dim 96,  depths 2, 2, 18, 2, heads 3, 6, 12, 24    image 224, mlp_ratio 4
//   swin_base   embed_dim 128, depths 2, 2, 18, 2, heads 4, 8, 16, 32
//   swin        any shape (image_size, patch_size, in_channels, classes, embed_dim, depths, heads,
//               window_size, mlp_ratio); defaults for 28x28 Fashion-MNIST: image 28, patch 2,
//               1 channel, 10 classes, embed_dim 32, depths [2, 2], heads [2, 4], window 7
//
// Stage i has width embed_dim 2^i on a grid of side S_i = image / patch / 2^i; its blocks alternate
// W-MSA and SW-MSA (shift window / 2), except that a window not smaller than the grid is clipped
// to it and never shifted (timm's _calc_window_shift). Unlike timm, which pads, the window must
// divide every grid and every merged grid must be even (errors name window_size / image_size).
//
// The model is a Sequential of four children whose parameter names are timm's, so that timm's
// state dicts load as they are (configs/name_maps/timm_swin.yaml; the official Microsoft files
// through configs/name_maps/swin_official.yaml):
//   patch_embed  PatchEmbed: proj (conv patch x patch), norm (LayerNorm)
//   layers       "0", "1", ...: downsample (PatchMerging: norm, reduction; stages > 0), blocks "0",
//                "1", ... (TransformerBlock: norm1, attn.{qkv, proj, relative_position_bias_table,
//                norm_q, norm_k, q_act, k_act, v_act, attn_act}, norm2, mlp.{fc1, fc2})
//   norm         LayerNorm(embed_dim 2^(stages - 1))
//   head         ClassifierHead: fc(mean over tokens)
// timm's non-persistent buffers (relative_position_index, attn_mask) are derived, not registered.
// LayerNorms have eps 1e-5 (torch's default, as timm's Swin).
//
// Quantization: the transformer options shared with DeiT (modules/models/transformer_options.h:
// embed_bits, head_bits, attention_bits, irm, linear_bias, gelu_clip, drop_path). The patch
// merging reductions are block linears: the policy's quantizers, like qkv, proj, fc1 and fc2 (TerViT
// ternarizes them too: shared/methods/tervit.md section 2). Bi-ViT's official Swin uses LinearBi
// there instead of its BiLinearBiReal (a learned per-row weight scale and an ActBi input, spec
// bivit.md 2.3); lowbit's policy has one weight and one input quantizer for all block linears, so
// a Bi-ViT Swin binarizes the reductions as the other block linears (xnor weights, sign inputs).
#include <lowbit/modules/layers/stage.h>
#include <lowbit/modules/layers/swin.h>
#include <lowbit/modules/layers/transformer.h>
#include <lowbit/modules/models/registry.h>
#include <lowbit/modules/models/transformer_options.h>

#include <torch/nn/modules/normalization.h>

#include <numeric>
#include <string>
#include <vector>

namespace lowbit::models {
namespace {

struct SwinShape {
  int64_t image_size, patch_size, in_channels, classes, embed_dim;
  std::vector<int64_t> depths, heads;
  int64_t window_size;
  double mlp_ratio;
};

void check_swin_shape(const std::string& model, const SwinShape& s) {
  const auto owner = "model '" + model + "': ";
  for (const auto& [key, positive] :
       {std::pair{"image_size", s.image_size > 0}, std::pair{"patch_size", s.patch_size > 0},
        std::pair{"in_channels", s.in_channels > 0}, std::pair{"classes", s.classes > 0},
        std::pair{"embed_dim", s.embed_dim > 0}, std::pair{"window_size", s.window_size > 0},
        std::pair{"mlp_ratio", s.mlp_ratio > 0}}) {
    LOWBIT_CHECK_OPTION(positive, key, owner, key, " must be positive");
  }
  LOWBIT_CHECK_OPTION(!s.depths.empty() && std::all_of(s.depths.begin(), s.depths.end(), [](int64_t d) { return d > 0; }),
                      "depths", owner, "depths must be a non-empty list of positive block counts");
  LOWBIT_CHECK_OPTION(s.heads.size() == s.depths.size(), "heads", owner, "heads must have one entry per stage (",
                      s.depths.size(), "), got ", s.heads.size());
  LOWBIT_CHECK_OPTION(s.image_size % s.patch_size == 0, "patch_size", owner, "patch_size ", s.patch_size,
                      " must divide image_size ", s.image_size);
  int64_t side = s.image_size / s.patch_size;
  for (size_t i = 0; i < s.depths.size(); ++i) {
    const int64_t dim = s.embed_dim << i;
    LOWBIT_CHECK_OPTION(s.heads[i] > 0 && dim % s.heads[i] == 0, "heads", owner, "heads[", i, "] (", s.heads[i],
                        ") must divide stage ", i, "'s width ", dim);
    if (i > 0) {
      LOWBIT_CHECK_OPTION(side % 2 == 0, "image_size", owner, "stage ", i - 1, "'s grid (", side, "x", side,
                          ") must be even for patch merging: image_size / patch_size must be divisible by 2^",
                          s.depths.size() - 1);
      side /= 2;
    }
    const auto w = layers::fit_windows(side, s.window_size, s.window_size / 2);
    LOWBIT_CHECK_OPTION(side % w.window == 0, "window_size", owner, "window_size ", s.window_size,
                        " must divide stage ", i, "'s grid side ", side, " (or be at least it)");
  }
}

// Stage i: patch merging from the previous stage's grid (i > 0), then its blocks.
layers::Stage swin_stage(const SwinShape& s, const TransformerOptions& t, const QuantPolicy& policy, size_t i,
                         int64_t side, int64_t first_block, int64_t total_blocks) {
  const int64_t dim = s.embed_dim << i;
  layers::Stage stage;
  if (i > 0) {
    stage->push_back("downsample", layers::PatchMerging(layers::PatchMergingOptions(2 * side, dim / 2, dim)
                                                            .reduction(block_quantizers(policy, dim, 2 * dim))));
  }
  const int64_t hidden = static_cast<int64_t>(static_cast<double>(dim) * s.mlp_ratio);
  std::vector<layers::TransformerBlockOptions> blocks;
  for (int64_t b = 0; b < s.depths[i]; ++b) {
    const auto windows = layers::fit_windows(side, s.window_size, b % 2 == 1 ? s.window_size / 2 : 0);
    const double rate = drop_path_rate(t.drop_path, first_block + b, total_blocks);
    blocks.push_back(transformer_block(t, policy, dim, s.heads[i], hidden, rate, windows).norm_eps(1e-5));
  }
  stage->push_back("blocks", layers::transformer_blocks(blocks));
  return stage;
}

torch::nn::Sequential build_swin(const std::string& model, const SwinShape& s, ParamReader& p,
                                 const QuantPolicy& policy) {
  check_swin_shape(model, s);
  const auto t = read_transformer_options(p, model);
  const int64_t total_blocks = std::accumulate(s.depths.begin(), s.depths.end(), int64_t{0});
  const int64_t features = s.embed_dim << (s.depths.size() - 1);

  torch::nn::Sequential net;
  net->push_back("patch_embed",
                 layers::PatchEmbed(layers::PatchEmbedOptions(s.image_size, s.patch_size, s.in_channels, s.embed_dim)
                                        .class_token(false)
                                        .norm(true)
                                        .proj(end_quantizers(t.embed_bits, policy, s.embed_dim, s.in_channels, 1))));
  layers::Stage stages;
  int64_t side = s.image_size / s.patch_size, first_block = 0;
  for (size_t i = 0; i < s.depths.size(); ++i) {
    if (i > 0) side /= 2;
    stages->push_back(std::to_string(i), swin_stage(s, t, policy, i, side, first_block, total_blocks));
    first_block += s.depths[i];
  }
  net->push_back("layers", stages);
  net->push_back("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({features})));
  net->push_back("head", layers::ClassifierHead(layers::ClassifierHeadOptions(features, s.classes)
                                                    .fc(end_quantizers(t.head_bits, policy, s.classes, features, -1))));
  return net;
}

// Swin at ImageNet settings (patch 4, window 7, image 224); image_size and classes may change.
Factory swin_variant(std::string model, int64_t embed_dim, std::vector<int64_t> depths, std::vector<int64_t> heads) {
  return [=](ParamReader& p, const QuantPolicy& policy) {
    SwinShape s{p.get<int64_t>("image_size", 224), 4, 3, p.get<int64_t>("classes", 1000), embed_dim, depths, heads, 7,
                4.0};
    return build_swin(model, s, p, policy);
  };
}

torch::nn::Sequential swin(ParamReader& p, const QuantPolicy& policy) {
  SwinShape s{p.get<int64_t>("image_size", 28),
              p.get<int64_t>("patch_size", 2),
              p.get<int64_t>("in_channels", 1),
              p.get<int64_t>("classes", 10),
              p.get<int64_t>("embed_dim", 32),
              p.get<std::vector<int64_t>>("depths", {2, 2}),
              p.get<std::vector<int64_t>>("heads", {2, 4}),
              p.get<int64_t>("window_size", 7),
              p.get<double>("mlp_ratio", 4.0)};
  return build_swin("swin", s, p, policy);
}

}  // namespace

LOWBIT_REGISTER_MODEL(swin_tiny, swin_variant("swin_tiny", 96, {2, 2, 6, 2}, {3, 6, 12, 24}));
LOWBIT_REGISTER_MODEL(swin_small, swin_variant("swin_small", 96, {2, 2, 18, 2}, {3, 6, 12, 24}));
LOWBIT_REGISTER_MODEL(swin_base, swin_variant("swin_base", 128, {2, 2, 18, 2}, {4, 8, 16, 32}));
LOWBIT_REGISTER_MODEL(swin, swin);

}  // namespace lowbit::models
