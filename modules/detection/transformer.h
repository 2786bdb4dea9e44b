#pragma once
// DETR's transformer (facebookresearch/detr models/transformer.py), post-norm, batch first
// ([B, tokens, d] where the official code has [tokens, B, d]; same parameters and results):
//   encoder layer   q = k = src + pos;  src = norm1(src + dropout1(self_attn(q, k, src, mask)))
//                   src = norm2(src + dropout2(ffn(src)))
//   decoder layer   q = k = tgt + query_pos;  tgt = norm1(tgt + dropout1(self_attn(q, k, tgt)))
//                   tgt = norm2(tgt + dropout2(multihead_attn(tgt + query_pos, memory + pos, memory, mask)))
//                   tgt = norm3(tgt + dropout3(ffn(tgt)))
//   ffn(x)          linear2(dropout(relu(linear1(x))))
//   Transformer     memory = encoder(src); tgt starts at 0; the decoder returns norm(tgt) after
//                   every layer (return_intermediate), stacked: [L, B, Q, d]. The encoder has no
//                   final norm (post-norm), the decoder one (`decoder.norm`).
// Names as the official code: encoder.layers.<i>.{self_attn, linear1, linear2, norm1, norm2},
// decoder.layers.<i>.{self_attn, multihead_attn, linear1, linear2, norm1, norm2, norm3},
// decoder.norm. Every matrix is drawn xavier_uniform (Transformer._reset_parameters); biases of
// linear1/linear2 keep nn.Linear's default, the attention biases start at 0.
// Quantizers (Q-DETR): per layer family through factories (attention.h, quantizer_factory.h).

#include <lowbit/modules/detection/attention.h>

#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/normalization.h>

#include <vector>

namespace lowbit::detection {

struct FeedForwardQuantizers {
  LayerQuantizers linear1, linear2;
};

// The quantizers of every layer family of the transformer; empty factories: full precision.
struct TransformerQuantizers {
  AttentionQuantizers encoder_self_attn, decoder_self_attn, decoder_cross_attn;
  FeedForwardQuantizers encoder_ffn, decoder_ffn;
};

struct TransformerLayerOptions {
  TransformerLayerOptions(int64_t d_model, int64_t heads) : d_model_(d_model), heads_(heads) {}
  TORCH_ARG(int64_t, d_model);
  TORCH_ARG(int64_t, heads);
  TORCH_ARG(int64_t, dim_feedforward) = 2048;
  TORCH_ARG(double, dropout) = 0.1;
  TORCH_ARG(AttentionQuantizers, self_attn);
  TORCH_ARG(AttentionQuantizers, cross_attn);  // decoder layers only
  TORCH_ARG(FeedForwardQuantizers, ffn);
};

// linear1 -> ReLU -> dropout -> linear2, the FFN both layer kinds share (members of the layer in
// the official code, hence not a child module of its own).
struct FeedForward {
  layers::QLinear linear1{nullptr}, linear2{nullptr};
  torch::nn::Dropout dropout{nullptr};
  void create(torch::nn::Module& layer, const TransformerLayerOptions& options);
  torch::Tensor forward(const torch::Tensor& x);
};

class TransformerEncoderLayerImpl : public torch::nn::Cloneable<TransformerEncoderLayerImpl> {
 public:
  explicit TransformerEncoderLayerImpl(TransformerLayerOptions options);
  void reset() override;
  // src, pos [B, S, d], mask bool [B, S]
  torch::Tensor forward(const torch::Tensor& src, const torch::Tensor& mask, const torch::Tensor& pos);

  TransformerLayerOptions options;
  MultiheadAttention self_attn{nullptr};
  FeedForward ffn;
  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr};
  torch::nn::Dropout dropout1{nullptr}, dropout2{nullptr};
};
TORCH_MODULE(TransformerEncoderLayer);

class TransformerDecoderLayerImpl : public torch::nn::Cloneable<TransformerDecoderLayerImpl> {
 public:
  explicit TransformerDecoderLayerImpl(TransformerLayerOptions options);
  void reset() override;
  // tgt, query_pos [B, Q, d]; memory, pos [B, S, d]; memory_mask bool [B, S]
  torch::Tensor forward(const torch::Tensor& tgt, const torch::Tensor& memory, const torch::Tensor& memory_mask,
                        const torch::Tensor& pos, const torch::Tensor& query_pos);

  TransformerLayerOptions options;
  MultiheadAttention self_attn{nullptr}, multihead_attn{nullptr};
  FeedForward ffn;
  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr}, norm3{nullptr};
  torch::nn::Dropout dropout1{nullptr}, dropout2{nullptr}, dropout3{nullptr};
};
TORCH_MODULE(TransformerDecoderLayer);

struct TransformerOptions {
  TransformerOptions(int64_t d_model, int64_t heads) : d_model_(d_model), heads_(heads) {}
  TORCH_ARG(int64_t, d_model);
  TORCH_ARG(int64_t, heads);
  TORCH_ARG(int64_t, encoder_layers) = 6;
  TORCH_ARG(int64_t, decoder_layers) = 6;
  TORCH_ARG(int64_t, dim_feedforward) = 2048;
  TORCH_ARG(double, dropout) = 0.1;
  TORCH_ARG(TransformerQuantizers, quantizers);
};

// The official TransformerEncoder / TransformerDecoder: children `layers` (and the decoder's `norm`).
class TransformerEncoderImpl : public torch::nn::Cloneable<TransformerEncoderImpl> {
 public:
  explicit TransformerEncoderImpl(TransformerOptions options);
  void reset() override;
  torch::Tensor forward(torch::Tensor src, const torch::Tensor& mask, const torch::Tensor& pos);

  TransformerOptions options;
  torch::nn::ModuleList layers{nullptr};
};
TORCH_MODULE(TransformerEncoder);

class TransformerDecoderImpl : public torch::nn::Cloneable<TransformerDecoderImpl> {
 public:
  explicit TransformerDecoderImpl(TransformerOptions options);
  void reset() override;
  // -> [L, B, Q, d], norm applied to every layer's output
  torch::Tensor forward(const torch::Tensor& memory, const torch::Tensor& mask, const torch::Tensor& pos,
                        const torch::Tensor& query_pos);

  TransformerOptions options;
  torch::nn::ModuleList layers{nullptr};
  torch::nn::LayerNorm norm{nullptr};
};
TORCH_MODULE(TransformerDecoder);

class TransformerImpl : public torch::nn::Cloneable<TransformerImpl> {
 public:
  explicit TransformerImpl(TransformerOptions options);
  void reset() override;
  // src, pos [B, d, h, w]; mask bool [B, h, w]; query_embed [Q, d] -> decoder outputs [L, B, Q, d]
  torch::Tensor forward(const torch::Tensor& src, const torch::Tensor& mask, const torch::Tensor& query_embed,
                        const torch::Tensor& pos);

  TransformerOptions options;
  TransformerEncoder encoder{nullptr};
  TransformerDecoder decoder{nullptr};
};
TORCH_MODULE(Transformer);

}  // namespace lowbit::detection
