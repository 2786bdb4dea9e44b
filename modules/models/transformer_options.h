#pragma once
// The model options that the transformer builders share (vit.cpp: ViT / DeiT; swin.cpp: Swin):
// how Q-ViT (Li et al. NeurIPS 2022), Bi-ViT (Li et al. AAAI 2024) and TerViT quantize a vision
// transformer beyond the QuantPolicy (bits 32 = full precision):
//   block linears (qkv, proj, fc1, fc2; Swin's patch merging reduction): the recipe's
//       weight_quantizer / input_quantizer (the policy), inputs per feature along the last axis
//       (channel_dim -1)
//   embed_bits, head_bits: the patch embedding / classifier heads with Q-ViT's 8-bit machinery at
//       these bits: lsq weights per output channel, initialised from the whole tensor, and
//       qvit_act inputs per channel (LinearQ / Conv2dQ: Quant.py); absent: the policy's
//       quantizers for the ends (full precision with full_precision_ends, the default)
//   attention_bits: qvit_act on q, k, v and the softmax map, per head (1: Bi-ViT's ActBi);
//       absent: full precision
//   irm (false): Q-ViT's information rectification, LayerNorm(head_dim) on q and k
//   linear_bias (true): bias of the block linears (Bi-ViT's code drops it)
//   gelu_clip (0): clip GELU's output in the MLP to [-c, c] (Q-ViT / Bi-ViT: 10)
//   drop_path (0): stochastic depth rate of the last block, linear in the block index from 0
//       (timm: torch.linspace(0, drop_path, blocks))
// Q-ViT W4A4: weight {lsq, bits 4, per_channel, init_per_channel: false}, input {qvit_act, bits 4},
// embed_bits 8, head_bits 8, attention_bits 4, irm, gelu_clip 10. Bi-ViT W1A1: weight {xnor,
// scale_grad: detached}, input {sign, ste: approx}, attention_bits 1, irm (DeiT; not in Bi-ViT's
// Swin), linear_bias false, gelu_clip 10, full-precision ends. TerViT: Q-ViT's at 8 bits, then
// ternary weights (recipes/tervit).

#include <lowbit/csrc/util/params.h>
#include <lowbit/modules/layers/transformer.h>
#include <lowbit/modules/models/quant_policy.h>

#include <optional>
#include <string>

namespace lowbit::models {

struct TransformerOptions {
  std::optional<int64_t> embed_bits, head_bits, attention_bits;
  bool irm = false;
  bool linear_bias = true;
  double gelu_clip = 0.0;
  double drop_path = 0.0;
};

// Reads the options above; errors are OptionErrors naming the option, prefixed "model '<model>': ".
TransformerOptions read_transformer_options(ParamReader& p, const std::string& model);

// The quantizers of a network end (patch embedding, heads): Q-ViT's at `bits`, else the policy's
// end quantizers. input_dim: the channel axis of the layer's input (1: images, -1: tokens).
layers::LinearQuantizers end_quantizers(const std::optional<int64_t>& bits, const QuantPolicy& policy,
                                        int64_t out_channels, int64_t in_channels, int64_t input_dim);

// The policy's quantizers of a block linear on tokens [B, N, in_features].
layers::LinearQuantizers block_quantizers(const QuantPolicy& policy, int64_t out_features, int64_t in_features);

// One transformer block of width `dim`, `heads` heads and MLP width `hidden`, quantized as the
// options say, with stochastic depth rate `drop_path` (and windows as given; ViT: none).
layers::TransformerBlockOptions transformer_block(const TransformerOptions& t, const QuantPolicy& policy, int64_t dim,
                                                  int64_t heads, int64_t hidden, double drop_path,
                                                  const layers::ShiftedWindows& windows = {});

// timm's stochastic depth rule: block `index` of `blocks` gets rate * index / (blocks - 1).
double drop_path_rate(double rate, int64_t index, int64_t blocks);

}  // namespace lowbit::models
