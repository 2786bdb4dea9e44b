#include <lowbit/modules/models/transformer_options.h>

#include <lowbit/modules/quant/lsq.h>
#include <lowbit/modules/quant/qvit_act.h>

namespace lowbit::models {
namespace {

// A model option giving a bit width: absent, 32 (full precision) or in [1, 16].
std::optional<int64_t> read_bits(ParamReader& p, const std::string& model, const std::string& key) {
  const auto bits = p.optional<int64_t>(key);
  LOWBIT_CHECK_OPTION(!bits || *bits == 32 || (*bits >= 1 && *bits <= 16), key, "model '", model, "': ", key,
                      " must be 32 (full precision) or in [1, 16], got ", *bits);
  return bits;
}

// Q-ViT's quantizers of a layer at `bits` (LinearQ / Conv2dQ: Quant.py): weight steps per output
// channel initialised from the whole weight, input step and zero point per input channel.
layers::LinearQuantizers qvit_quantizers(int64_t bits, int64_t out_channels, int64_t in_channels, int64_t input_dim) {
  if (bits == 32) return {};
  return {quant::Lsq(quant::LsqOptions(bits).per_channel(true).channels(out_channels).init_per_channel(false)),
          quant::QvitAct(quant::QvitActOptions(bits).channels(in_channels).channel_dim(input_dim))};
}

}  // namespace

TransformerOptions read_transformer_options(ParamReader& p, const std::string& model) {
  TransformerOptions t;
  t.embed_bits = read_bits(p, model, "embed_bits");
  t.head_bits = read_bits(p, model, "head_bits");
  t.attention_bits = read_bits(p, model, "attention_bits");
  t.irm = p.get<bool>("irm", false);
  t.linear_bias = p.get<bool>("linear_bias", true);
  t.gelu_clip = p.get<double>("gelu_clip", 0.0);
  t.drop_path = p.get<double>("drop_path", 0.0);
  LOWBIT_CHECK_OPTION(t.gelu_clip >= 0, "gelu_clip", "model '", model, "': gelu_clip must be >= 0 (0: no clip), got ",
                      t.gelu_clip);
  LOWBIT_CHECK_OPTION(t.drop_path >= 0 && t.drop_path < 1, "drop_path", "model '", model,
                      "': drop_path must be in [0, 1), got ", t.drop_path);
  return t;
}

layers::LinearQuantizers end_quantizers(const std::optional<int64_t>& bits, const QuantPolicy& policy,
                                        int64_t out_channels, int64_t in_channels, int64_t input_dim) {
  if (bits) return qvit_quantizers(*bits, out_channels, in_channels, input_dim);
  return {policy.weight_quantizer(true, out_channels), policy.input_quantizer(true, in_channels, input_dim)};
}

layers::LinearQuantizers block_quantizers(const QuantPolicy& policy, int64_t out_features, int64_t in_features) {
  return {policy.weight_quantizer(false, out_features), policy.input_quantizer(false, in_features, -1)};
}

layers::TransformerBlockOptions transformer_block(const TransformerOptions& t, const QuantPolicy& policy, int64_t dim,
                                                  int64_t heads, int64_t hidden, double drop_path,
                                                  const layers::ShiftedWindows& windows) {
  quant::Quantizer head_act = nullptr;
  if (t.attention_bits && *t.attention_bits != 32) {
    head_act = quant::QvitAct(quant::QvitActOptions(*t.attention_bits).channels(heads).channel_dim(1));
  }
  auto attn = layers::QAttentionOptions(dim, heads)
                  .qkv_bias(t.linear_bias)
                  .proj_bias(t.linear_bias)
                  .irm(t.irm)
                  .window_size(windows.window)
                  .qkv(block_quantizers(policy, 3 * dim, dim))
                  .proj(block_quantizers(policy, dim, dim))
                  .q_quantizer(head_act)
                  .k_quantizer(head_act)
                  .v_quantizer(head_act)
                  .attn_quantizer(head_act);
  auto mlp = layers::QMlpOptions(dim, hidden)
                 .bias(t.linear_bias)
                 .gelu_clip(t.gelu_clip)
                 .fc1(block_quantizers(policy, hidden, dim))
                 .fc2(block_quantizers(policy, dim, hidden));
  return layers::TransformerBlockOptions(attn, mlp).drop_path(drop_path).windows(windows);
}

double drop_path_rate(double rate, int64_t index, int64_t blocks) {
  return blocks > 1 ? rate * static_cast<double>(index) / static_cast<double>(blocks - 1) : 0.0;
}

}  // namespace lowbit::models
