#pragma once
// Quantized multi-head self-attention of a vision transformer, as Q-ViT's Q_Attention
// (Li et al. NeurIPS 2022; YanjingLi0202/Q-ViT quant_vision_transformer.py) and Bi-ViT's
// bi_Attention (Li et al. AAAI 2024; YanjingLi0202/Bi-ViT bi_vision_transformer.py):
//
//   [q, k, v] = split_heads(qkv(x))                  qkv: QLinear(dim -> 3 dim), x: [B, N, dim]
//   q <- norm_q(q), k <- norm_k(k)                    IRM, option `irm`: LayerNorm(head_dim) per
//                                                     token and head (eps 1e-5, affine), v untouched
//   q <- q_act(q), k <- k_act(k), v <- v_act(v)       [B, H, N, d], per-head quantizers
//   A   = softmax(q k^T / sqrt(d) + B + M)            full precision; B, M: Swin only (below)
//   A_q = attn_act(attn_drop(A))                      [B, H, N, N], per-head quantizer
//   out = proj(merge_heads(A_q v))                    proj: QLinear(dim -> dim), then proj_drop
//
// Q-ViT: q/k/v/attn quantizers are qvit_act at b bits (the softmax is unsigned, found from the
// first batch). Bi-ViT: they are qvit_act at 1 bit (ActBi); on the attention map the learnable
// per-head alpha_h with a zero point that reaches z_r = -1 gives A_q = 2 alpha_h 1[A > alpha_h],
// a learned threshold and magnitude: the "learnable scaling factor" of the paper (spec
// bivit.md 2.2, an inference from the code). Bi-ViT's binary linears drop their bias (the
// official BiLinearBiReal calls F.linear without it): options qkv_bias / proj_bias.
//
// Swin's window attention (Liu et al. ICCV 2021; timm 1.0.31 swin_transformer.py WindowAttention),
// option window_size w > 0: x holds windows [B nW, w w, dim] (modules/layers/windows.h) and
//   B[h, i, j] = relative_position_bias_table[relative_position_index[i, j], h]   table [(2w-1)^2, H]
//   M          = forward's mask [nW, w w, w w] (SW-MSA's 0 / -100), added to window n of every image
// Bi-ViT's Swin (bi_swin_transformer.py Bi_WindowAttention) quantizes q before the d^-1/2 scale and
// has no IRM: the same product. The relative position index is timm's non-persistent buffer: not
// in the state dict (DerivedTensor).
//
// Taps (modules/taps/taps.h), published every forward:
//   "q", "k", "v"        [B, H, N, d]  what the attention consumes: after IRM and quantization
//   "attn"               [B, H, N, N]  softmax probabilities before dropout and attn_act
//   "attn_quantized"     [B, H, N, N]  the quantized map that multiplies v
// Children keep the official names (qkv, proj, norm_q, norm_k, q_act, k_act, v_act, attn_act,
// relative_position_bias_table).

#include <lowbit/modules/layers/qlinear.h>
#include <lowbit/modules/layers/windows.h>
#include <lowbit/modules/quant/quantizer.h>

#include <torch/nn/cloneable.h>
#include <torch/nn/modules/common.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/normalization.h>

namespace lowbit::layers {

// The quantizer prototypes of one QLinear (identity where empty).
struct LinearQuantizers {
  quant::Quantizer weight{nullptr}, input{nullptr};
};

struct QAttentionOptions {
  QAttentionOptions(int64_t dim, int64_t heads) : dim_(dim), heads_(heads) {}
  TORCH_ARG(int64_t, dim);
  TORCH_ARG(int64_t, heads);  // must divide dim
  TORCH_ARG(bool, qkv_bias) = true;
  TORCH_ARG(bool, proj_bias) = true;
  TORCH_ARG(bool, irm) = false;
  TORCH_ARG(int64_t, window_size) = 0;  // > 0: Swin's windows of this side, relative position bias
  TORCH_ARG(double, attn_drop) = 0.0;
  TORCH_ARG(double, proj_drop) = 0.0;
  TORCH_ARG(LinearQuantizers, qkv);
  TORCH_ARG(LinearQuantizers, proj);
  // Per-head quantizers of q, k, v and the attention map (channels = heads, channel_dim 1).
  TORCH_ARG(quant::Quantizer, q_quantizer) = nullptr;
  TORCH_ARG(quant::Quantizer, k_quantizer) = nullptr;
  TORCH_ARG(quant::Quantizer, v_quantizer) = nullptr;
  TORCH_ARG(quant::Quantizer, attn_quantizer) = nullptr;
};

class QAttentionImpl : public torch::nn::Cloneable<QAttentionImpl> {
 public:
  QAttentionImpl(int64_t dim, int64_t heads) : QAttentionImpl(QAttentionOptions(dim, heads)) {}
  explicit QAttentionImpl(QAttentionOptions options);
  void reset() override;
  // [B, N, dim] -> [B, N, dim]; mask (window attention only): [nW, N, N], nW dividing B.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& mask = {});
  void pretty_print(std::ostream& stream) const override;

  int64_t head_dim() const { return options.dim() / options.heads(); }

  QAttentionOptions options;
  QLinear qkv{nullptr}, proj{nullptr};
  torch::nn::LayerNorm norm_q{nullptr}, norm_k{nullptr};  // with irm only
  quant::Quantizer q_act{nullptr}, k_act{nullptr}, v_act{nullptr}, attn_act{nullptr};
  torch::nn::Dropout attn_drop{nullptr}, proj_drop{nullptr};
  torch::Tensor relative_position_bias_table;  // with window_size only

 protected:
  FORWARD_HAS_DEFAULT_ARGS({1, torch::nn::AnyValue(torch::Tensor())})

 private:
  torch::Tensor position_bias();  // [H, w w, w w]
  DerivedTensor relative_position_index_;
};
TORCH_MODULE(QAttention);

}  // namespace lowbit::layers
