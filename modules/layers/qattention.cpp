#include <lowbit/modules/layers/qattention.h>

#include <lowbit/modules/layers/quantized_weights.h>
#include <lowbit/modules/layers/transformer.h>
#include <lowbit/modules/taps/taps.h>

#include <torch/torch.h>

#include <cmath>

namespace lowbit::layers {

QAttentionImpl::QAttentionImpl(QAttentionOptions options_) : options(std::move(options_)) { reset(); }

void QAttentionImpl::reset() {
  const auto& o = options;
  TORCH_CHECK_VALUE(o.dim() > 0 && o.heads() > 0, "QAttention: dim and heads must be positive, got dim ", o.dim(),
                    ", heads ", o.heads());
  TORCH_CHECK_VALUE(o.dim() % o.heads() == 0, "QAttention: heads (", o.heads(), ") must divide dim (", o.dim(), ")");
  TORCH_CHECK_VALUE(o.window_size() >= 0, "QAttention: window_size must be >= 0 (0: no windows), got ",
                    o.window_size());
  TORCH_CHECK_VALUE(o.attn_drop() >= 0 && o.attn_drop() < 1 && o.proj_drop() >= 0 && o.proj_drop() < 1,
                    "QAttention: dropout rates must be in [0, 1), got attn_drop ", o.attn_drop(), ", proj_drop ",
                    o.proj_drop());
  qkv = register_module("qkv", QLinear(QLinearOptions(o.dim(), 3 * o.dim())
                                           .bias(o.qkv_bias())
                                           .weight_quantizer(o.qkv().weight)
                                           .input_quantizer(o.qkv().input)));
  if (o.irm()) {
    norm_q = register_module("norm_q", torch::nn::LayerNorm(torch::nn::LayerNormOptions({head_dim()})));
    norm_k = register_module("norm_k", torch::nn::LayerNorm(torch::nn::LayerNormOptions({head_dim()})));
  }
  q_act = register_module("q_act", quant::adopt(o.q_quantizer()));
  k_act = register_module("k_act", quant::adopt(o.k_quantizer()));
  v_act = register_module("v_act", quant::adopt(o.v_quantizer()));
  attn_act = register_module("attn_act", quant::adopt(o.attn_quantizer()));
  attn_drop = register_module("attn_drop", torch::nn::Dropout(o.attn_drop()));
  proj = register_module("proj", QLinear(QLinearOptions(o.dim(), o.dim())
                                             .bias(o.proj_bias())
                                             .weight_quantizer(o.proj().weight)
                                             .input_quantizer(o.proj().input)));
  proj_drop = register_module("proj_drop", torch::nn::Dropout(o.proj_drop()));
  if (o.window_size() > 0) {
    const auto rows = (2 * o.window_size() - 1) * (2 * o.window_size() - 1);
    relative_position_bias_table = register_parameter(
        "relative_position_bias_table", trunc_normal_(torch::empty({rows, o.heads()}), 0.02));
    relative_position_index_ = DerivedTensor(relative_position_index(o.window_size()).flatten());
  }
}

torch::Tensor QAttentionImpl::position_bias() {
  return relative_position_bias(relative_position_bias_table,
                                relative_position_index_.like(relative_position_bias_table), options.window_size());
}

torch::Tensor QAttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& mask) {
  TORCH_CHECK(x.dim() == 3 && x.size(2) == options.dim(), "QAttention(dim ", options.dim(),
              "): expected input [B, N, ", options.dim(), "], got shape ", x.sizes());
  const int64_t batch = x.size(0), tokens = x.size(1), heads = options.heads(), window = options.window_size();
  TORCH_CHECK(window == 0 || tokens == window * window, "QAttention(dim ", options.dim(), ", window ", window,
              "): expected windows of ", window * window, " tokens, got ", tokens);
  TORCH_CHECK(!mask.defined() || (window > 0 && mask.dim() == 3 && mask.size(0) > 0 && batch % mask.size(0) == 0 &&
                                  mask.size(1) == tokens && mask.size(2) == tokens),
              "QAttention(dim ", options.dim(), ", window ", window, "): expected a mask [nW, ", tokens, ", ", tokens,
              "] with nW dividing ", batch, " (window attention only), got shape ", mask.sizes());
  const auto qkv_heads = qkv(x).reshape({batch, tokens, 3, heads, head_dim()}).permute({2, 0, 3, 1, 4});
  auto q = qkv_heads[0], k = qkv_heads[1], v = qkv_heads[2];
  if (options.irm()) {
    q = norm_q(q);
    k = norm_k(k);
  }
  // The products keep their quantized operands compactly where the quantizers allow
  // (csrc/ops/kept_operands.h): on an LSQ grid, the quantizer's input, which it keeps anyway.
  const auto product = [](const ops::Operand& a, const ops::Operand& b, bool transpose_b) {
    if (torch::GradMode::is_enabled() && any_compact(a, b)) return ops::matmul_of(a, b, transpose_b);
    return torch::matmul(a.values, transpose_b ? b.values.transpose(-2, -1) : b.values);
  };
  const auto q_quantized = quantized_operand(*q_act, q), k_quantized = quantized_operand(*k_act, k),
             v_quantized = quantized_operand(*v_act, v);
  taps::publish(*this, "q", q_quantized.values);
  taps::publish(*this, "k", k_quantized.values);
  taps::publish(*this, "v", v_quantized.values);
  const double scale = 1.0 / std::sqrt(static_cast<double>(head_dim()));
  auto logits = product(q_quantized, k_quantized, true) * scale;
  if (window > 0) logits = logits + position_bias();
  if (mask.defined()) logits = add_window_mask(logits, mask);
  const auto attn = torch::softmax(logits, -1);
  taps::publish(*this, "attn", attn);
  const auto attn_quantized = quantized_operand(*attn_act, attn_drop(attn));
  taps::publish(*this, "attn_quantized", attn_quantized.values);
  const auto merged =
      product(attn_quantized, v_quantized, false).transpose(1, 2).reshape({batch, tokens, options.dim()});
  return proj_drop(proj(merged));
}

void QAttentionImpl::pretty_print(std::ostream& stream) const {
  stream << "lowbit::layers::QAttention(dim=" << options.dim() << ", heads=" << options.heads()
         << ", irm=" << options.irm();
  if (options.window_size() > 0) stream << ", window_size=" << options.window_size();
  stream << ")";
}

}  // namespace lowbit::layers
