#pragma once
// Multi-head attention with the semantics and state-dict names of torch.nn.MultiheadAttention as
// DETR uses it (facebookresearch/detr models/transformer.py), batch first, with Q-DETR's
// quantizers (spec ../shared/methods/qdetr.md §1-§3; third-party quant_attention_layer.py):
//
//   W    = in_proj_weight_quantizer(in_proj_weight)                   [3d, d], b-bit per row
//   q    = query_input_quantizer(query) W_q^T + b_q, k, v likewise     -> [B, H, L|S, d/H]
//   q   <- norm_q(q)                                                   Distribution Alignment (DA)
//   q, k, v <- q_act(q), k_act(k), v_act(v)                            per-head, 8-bit in Q-DETR
//   A    = softmax(q k^T / sqrt(d/H), keys with key_padding_mask = -inf) [B, H, L, S]
//   A_q  = attn_act(dropout(A))                                        per-head, 8-bit in Q-DETR
//   attended = merge_heads(A_q v)                                      [B, L, d], tap "attended"
//   out  = out_proj(attended)                                          QLinear d -> d
//
// The query is scaled after quantization, (q k^T) / sqrt(d/H), as the third-party code; for a
// full-precision layer this is nn.MultiheadAttention up to rounding. Dropout sits before attn_act
// (third-party order; nn.MultiheadAttention's dropout also acts on the probabilities).
// Names: in_proj_weight, in_proj_bias, out_proj.{weight,bias} as nn.MultiheadAttention; the
// quantizers in_proj_weight_quantizer, query/key/value_input_quantizer, q_act, k_act, v_act,
// attn_act, out_proj.{weight,input}_quantizer; DA is `norm_q` (the third-party name) with
// parameters scale, bias. Identity quantizers hold no state, so a full-precision layer has
// exactly nn.MultiheadAttention's keys.
// Initialisation (nn.MultiheadAttention._reset_parameters and DETR's Transformer, which draws
// every matrix again): in_proj_weight and out_proj.weight xavier_uniform, biases 0.

#include <lowbit/modules/detection/quantizer_factory.h>
#include <lowbit/modules/layers/distribution_alignment.h>
#include <lowbit/modules/layers/qlinear.h>

#include <torch/nn/modules/dropout.h>

namespace lowbit::detection {

struct AttentionQuantizers {
  LayerQuantizers in_proj;   // weight: channels 3d; input: applied to query, key and value (channels d)
  LayerQuantizers out_proj;  // weight: channels d; input: the attended features (channels d)
  QuantizerFactory heads;    // q, k, v and attention probabilities; channels = heads, along dim 1
  bool distribution_alignment = false;  // DA on q (norm_q)
};

struct MultiheadAttentionOptions {
  MultiheadAttentionOptions(int64_t embed_dim, int64_t heads) : embed_dim_(embed_dim), heads_(heads) {}
  TORCH_ARG(int64_t, embed_dim);
  TORCH_ARG(int64_t, heads);
  TORCH_ARG(double, dropout) = 0.0;
  TORCH_ARG(AttentionQuantizers, quantizers);
};

class MultiheadAttentionImpl : public torch::nn::Cloneable<MultiheadAttentionImpl> {
 public:
  explicit MultiheadAttentionImpl(MultiheadAttentionOptions options);
  void reset() override;
  void reset_parameters();
  // query [B, L, d], key and value [B, S, d], key_padding_mask bool [B, S] (true: ignored) or
  // undefined -> [B, L, d]
  torch::Tensor forward(const torch::Tensor& query, const torch::Tensor& key, const torch::Tensor& value,
                        const torch::Tensor& key_padding_mask = {});
  void pretty_print(std::ostream& stream) const override;

  int64_t head_dim() const { return options.embed_dim() / options.heads(); }

  MultiheadAttentionOptions options;
  torch::Tensor in_proj_weight, in_proj_bias;
  layers::QLinear out_proj{nullptr};
  quant::Quantizer in_proj_weight_quantizer{nullptr}, query_input_quantizer{nullptr}, key_input_quantizer{nullptr},
      value_input_quantizer{nullptr};
  layers::DistributionAlignment norm_q{nullptr};
  quant::Quantizer q_act{nullptr}, k_act{nullptr}, v_act{nullptr}, attn_act{nullptr};
  torch::nn::Dropout attn_drop{nullptr};

 private:
  // Projects `x` [B, N, d] with rows [part d, (part + 1) d) of the weight and splits the heads.
  torch::Tensor project(const torch::Tensor& x, const torch::Tensor& weight, int64_t part);
};
TORCH_MODULE(MultiheadAttention);

}  // namespace lowbit::detection
