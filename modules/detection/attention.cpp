#include <lowbit/modules/detection/attention.h>

#include <lowbit/modules/taps/taps.h>

#include <torch/torch.h>

#include <cmath>
#include <limits>

namespace lowbit::detection {

MultiheadAttentionImpl::MultiheadAttentionImpl(MultiheadAttentionOptions options_) : options(std::move(options_)) {
  reset();
}

void MultiheadAttentionImpl::reset() {
  const auto& o = options;
  const int64_t d = o.embed_dim();
  TORCH_CHECK_VALUE(d > 0 && o.heads() > 0 && d % o.heads() == 0, "MultiheadAttention: heads (", o.heads(),
                    ") must divide embed_dim (", d, "), both positive");
  TORCH_CHECK_VALUE(o.dropout() >= 0 && o.dropout() < 1, "MultiheadAttention: dropout must be in [0, 1), got ",
                    o.dropout());
  const auto& q = o.quantizers();
  in_proj_weight = register_parameter("in_proj_weight", torch::empty({3 * d, d}));
  in_proj_bias = register_parameter("in_proj_bias", torch::empty({3 * d}));
  out_proj = register_module("out_proj", layers::QLinear(layers::QLinearOptions(d, d)
                                                             .weight_quantizer(make_quantizer(q.out_proj.weight, d))
                                                             .input_quantizer(make_quantizer(q.out_proj.input, d))));
  in_proj_weight_quantizer = register_module("in_proj_weight_quantizer", quant::adopt(make_quantizer(q.in_proj.weight, 3 * d)));
  in_proj_weight_quantizer->check_shape(in_proj_weight.sizes());
  query_input_quantizer = register_module("query_input_quantizer", quant::adopt(make_quantizer(q.in_proj.input, d)));
  key_input_quantizer = register_module("key_input_quantizer", quant::adopt(make_quantizer(q.in_proj.input, d)));
  value_input_quantizer = register_module("value_input_quantizer", quant::adopt(make_quantizer(q.in_proj.input, d)));
  norm_q = q.distribution_alignment ? register_module("norm_q", layers::DistributionAlignment(head_dim()))
                                    : layers::DistributionAlignment(nullptr);
  q_act = register_module("q_act", quant::adopt(make_quantizer(q.heads, o.heads())));
  k_act = register_module("k_act", quant::adopt(make_quantizer(q.heads, o.heads())));
  v_act = register_module("v_act", quant::adopt(make_quantizer(q.heads, o.heads())));
  attn_act = register_module("attn_act", quant::adopt(make_quantizer(q.heads, o.heads())));
  attn_drop = register_module("attn_drop", torch::nn::Dropout(o.dropout()));
  reset_parameters();
}

void MultiheadAttentionImpl::reset_parameters() {
  torch::NoGradGuard no_grad;
  torch::nn::init::xavier_uniform_(in_proj_weight);
  torch::nn::init::xavier_uniform_(out_proj->weight);
  in_proj_bias.zero_();
  out_proj->bias.zero_();
}

torch::Tensor MultiheadAttentionImpl::project(const torch::Tensor& x, const torch::Tensor& weight, int64_t part) {
  const int64_t d = options.embed_dim();
  const auto y = torch::nn::functional::linear(x, weight.narrow(0, part * d, d), in_proj_bias.narrow(0, part * d, d));
  return y.view({x.size(0), x.size(1), options.heads(), head_dim()}).transpose(1, 2);
}

torch::Tensor MultiheadAttentionImpl::forward(const torch::Tensor& query, const torch::Tensor& key,
                                              const torch::Tensor& value, const torch::Tensor& key_padding_mask) {
  const int64_t d = options.embed_dim();
  TORCH_CHECK(query.dim() == 3 && key.dim() == 3 && value.dim() == 3 && query.size(2) == d && key.size(2) == d &&
                  value.sizes() == key.sizes() && query.size(0) == key.size(0),
              "MultiheadAttention(", d, "): expected query [B, L, ", d, "] and key, value [B, S, ", d, "], got ",
              query.sizes(), ", ", key.sizes(), ", ", value.sizes());
  const auto weight = in_proj_weight_quantizer(in_proj_weight);
  auto q = project(query_input_quantizer(query), weight, 0);
  if (norm_q) q = norm_q(q);
  q = q_act(q);
  const auto k = k_act(project(key_input_quantizer(key), weight, 1));
  const auto v = v_act(project(value_input_quantizer(value), weight, 2));
  auto scores = torch::matmul(q, k.transpose(-2, -1)) * (1.0 / std::sqrt(static_cast<double>(head_dim())));
  if (key_padding_mask.defined()) {
    TORCH_CHECK(key_padding_mask.scalar_type() == torch::kBool && key_padding_mask.dim() == 2 &&
                    key_padding_mask.size(0) == key.size(0) && key_padding_mask.size(1) == key.size(1),
                "MultiheadAttention: expected a bool key_padding_mask [", key.size(0), ", ", key.size(1), "], got ",
                key_padding_mask.scalar_type(), " ", key_padding_mask.sizes());
    scores = scores.masked_fill(key_padding_mask.view({key.size(0), 1, 1, key.size(1)}),
                                -std::numeric_limits<double>::infinity());
  }
  const auto attn = attn_act(attn_drop(torch::softmax(scores, -1)));
  const auto attended = torch::matmul(attn, v).transpose(1, 2).reshape({query.size(0), query.size(1), d});
  if (taps::recording()) taps::publish(*this, "attended", attended);
  return out_proj(attended);
}

void MultiheadAttentionImpl::pretty_print(std::ostream& stream) const {
  stream << "lowbit::detection::MultiheadAttention(embed_dim=" << options.embed_dim() << ", heads=" << options.heads()
         << ", dropout=" << options.dropout() << (norm_q ? ", distribution_alignment" : "") << ")";
}

}  // namespace lowbit::detection
