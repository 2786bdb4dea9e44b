#include <lowbit/modules/detection/transformer.h>

#include <torch/torch.h>

namespace lowbit::detection {
namespace {

MultiheadAttention attention(const TransformerLayerOptions& o, const AttentionQuantizers& quantizers) {
  return MultiheadAttention(
      MultiheadAttentionOptions(o.d_model(), o.heads()).dropout(o.dropout()).quantizers(quantizers));
}

torch::nn::LayerNorm layer_norm(int64_t d) { return torch::nn::LayerNorm(torch::nn::LayerNormOptions({d})); }

// DETR's Transformer._reset_parameters: xavier_uniform_ on every matrix (nn.Linear's biases stay).
void xavier_matrices(const layers::QLinear& linear) {
  torch::NoGradGuard no_grad;
  torch::nn::init::xavier_uniform_(linear->weight);
}

void check(const TransformerLayerOptions& o) {
  TORCH_CHECK_VALUE(o.d_model() > 0 && o.dim_feedforward() > 0, "Transformer layer: d_model and dim_feedforward must "
                    "be positive, got ", o.d_model(), ", ", o.dim_feedforward());
  TORCH_CHECK_VALUE(o.dropout() >= 0 && o.dropout() < 1, "Transformer layer: dropout must be in [0, 1), got ",
                    o.dropout());
}

TransformerLayerOptions layer_options(const TransformerOptions& o) {
  return TransformerLayerOptions(o.d_model(), o.heads()).dim_feedforward(o.dim_feedforward()).dropout(o.dropout());
}

}  // namespace

void FeedForward::create(torch::nn::Module& layer, const TransformerLayerOptions& o) {
  const int64_t d = o.d_model(), hidden = o.dim_feedforward();
  const auto& q = o.ffn();
  linear1 = layer.register_module("linear1", layers::QLinear(layers::QLinearOptions(d, hidden)
                                                                 .weight_quantizer(make_quantizer(q.linear1.weight, hidden))
                                                                 .input_quantizer(make_quantizer(q.linear1.input, d))));
  dropout = layer.register_module("dropout", torch::nn::Dropout(o.dropout()));
  linear2 = layer.register_module("linear2", layers::QLinear(layers::QLinearOptions(hidden, d)
                                                                 .weight_quantizer(make_quantizer(q.linear2.weight, d))
                                                                 .input_quantizer(make_quantizer(q.linear2.input, hidden))));
  xavier_matrices(linear1);
  xavier_matrices(linear2);
}

torch::Tensor FeedForward::forward(const torch::Tensor& x) { return linear2(dropout(torch::relu(linear1(x)))); }

TransformerEncoderLayerImpl::TransformerEncoderLayerImpl(TransformerLayerOptions options_)
    : options(std::move(options_)) {
  reset();
}

void TransformerEncoderLayerImpl::reset() {
  check(options);
  self_attn = register_module("self_attn", attention(options, options.self_attn()));
  ffn.create(*this, options);
  norm1 = register_module("norm1", layer_norm(options.d_model()));
  norm2 = register_module("norm2", layer_norm(options.d_model()));
  dropout1 = register_module("dropout1", torch::nn::Dropout(options.dropout()));
  dropout2 = register_module("dropout2", torch::nn::Dropout(options.dropout()));
}

torch::Tensor TransformerEncoderLayerImpl::forward(const torch::Tensor& src, const torch::Tensor& mask,
                                                   const torch::Tensor& pos) {
  const auto q = src + pos;
  auto x = norm1(src + dropout1(self_attn(q, q, src, mask)));
  return norm2(x + dropout2(ffn.forward(x)));
}

TransformerDecoderLayerImpl::TransformerDecoderLayerImpl(TransformerLayerOptions options_)
    : options(std::move(options_)) {
  reset();
}

void TransformerDecoderLayerImpl::reset() {
  check(options);
  self_attn = register_module("self_attn", attention(options, options.self_attn()));
  multihead_attn = register_module("multihead_attn", attention(options, options.cross_attn()));
  ffn.create(*this, options);
  norm1 = register_module("norm1", layer_norm(options.d_model()));
  norm2 = register_module("norm2", layer_norm(options.d_model()));
  norm3 = register_module("norm3", layer_norm(options.d_model()));
  dropout1 = register_module("dropout1", torch::nn::Dropout(options.dropout()));
  dropout2 = register_module("dropout2", torch::nn::Dropout(options.dropout()));
  dropout3 = register_module("dropout3", torch::nn::Dropout(options.dropout()));
}

torch::Tensor TransformerDecoderLayerImpl::forward(const torch::Tensor& tgt, const torch::Tensor& memory,
                                                   const torch::Tensor& memory_mask, const torch::Tensor& pos,
                                                   const torch::Tensor& query_pos) {
  const auto q = tgt + query_pos;
  auto x = norm1(tgt + dropout1(self_attn(q, q, tgt)));
  x = norm2(x + dropout2(multihead_attn(x + query_pos, memory + pos, memory, memory_mask)));
  return norm3(x + dropout3(ffn.forward(x)));
}

TransformerEncoderImpl::TransformerEncoderImpl(TransformerOptions options_) : options(std::move(options_)) { reset(); }

void TransformerEncoderImpl::reset() {
  layers = register_module("layers", torch::nn::ModuleList());
  const auto layer = layer_options(options).self_attn(options.quantizers().encoder_self_attn).ffn(options.quantizers().encoder_ffn);
  for (int64_t i = 0; i < options.encoder_layers(); ++i) layers->push_back(TransformerEncoderLayer(layer));
}

torch::Tensor TransformerEncoderImpl::forward(torch::Tensor src, const torch::Tensor& mask, const torch::Tensor& pos) {
  for (const auto& layer : *layers) src = layer->as<TransformerEncoderLayerImpl>()->forward(src, mask, pos);
  return src;
}

TransformerDecoderImpl::TransformerDecoderImpl(TransformerOptions options_) : options(std::move(options_)) { reset(); }

void TransformerDecoderImpl::reset() {
  TORCH_CHECK_VALUE(options.decoder_layers() >= 1, "Transformer: needs at least one decoder layer, got ",
                    options.decoder_layers());
  layers = register_module("layers", torch::nn::ModuleList());
  const auto& q = options.quantizers();
  const auto layer =
      layer_options(options).self_attn(q.decoder_self_attn).cross_attn(q.decoder_cross_attn).ffn(q.decoder_ffn);
  for (int64_t i = 0; i < options.decoder_layers(); ++i) layers->push_back(TransformerDecoderLayer(layer));
  norm = register_module("norm", layer_norm(options.d_model()));
}

torch::Tensor TransformerDecoderImpl::forward(const torch::Tensor& memory, const torch::Tensor& mask,
                                              const torch::Tensor& pos, const torch::Tensor& query_pos) {
  auto tgt = torch::zeros_like(query_pos);
  std::vector<torch::Tensor> intermediate;
  for (const auto& layer : *layers) {
    tgt = layer->as<TransformerDecoderLayerImpl>()->forward(tgt, memory, mask, pos, query_pos);
    intermediate.push_back(norm(tgt));
  }
  return torch::stack(intermediate);
}

TransformerImpl::TransformerImpl(TransformerOptions options_) : options(std::move(options_)) { reset(); }

void TransformerImpl::reset() {
  TORCH_CHECK_VALUE(options.heads() > 0 && options.d_model() % options.heads() == 0, "Transformer: heads (",
                    options.heads(), ") must divide d_model (", options.d_model(), ")");
  TORCH_CHECK_VALUE(options.encoder_layers() >= 0, "Transformer: encoder_layers must be >= 0, got ",
                    options.encoder_layers());
  encoder = register_module("encoder", TransformerEncoder(options));
  decoder = register_module("decoder", TransformerDecoder(options));
}

torch::Tensor TransformerImpl::forward(const torch::Tensor& src, const torch::Tensor& mask,
                                       const torch::Tensor& query_embed, const torch::Tensor& pos) {
  TORCH_CHECK(src.dim() == 4 && src.size(1) == options.d_model() && pos.sizes() == src.sizes(),
              "Transformer(d_model ", options.d_model(), "): expected src and pos [B, ", options.d_model(),
              ", h, w], got ", src.sizes(), " and ", pos.sizes());
  const int64_t batch = src.size(0);
  const auto tokens = src.flatten(2).transpose(1, 2);          // [B, hw, d]
  const auto pos_tokens = pos.flatten(2).transpose(1, 2);      // [B, hw, d]
  const auto key_mask = mask.flatten(1);                        // [B, hw]
  const auto query_pos = query_embed.unsqueeze(0).expand({batch, -1, -1});
  const auto memory = encoder(tokens, key_mask, pos_tokens);
  return decoder(memory, key_mask, pos_tokens, query_pos);
}

}  // namespace lowbit::detection
