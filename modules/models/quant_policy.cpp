#include <lowbit/modules/models/quant_policy.h>

#include <lowbit/modules/quant/identity.h>
#include <lowbit/modules/quant/registry.h>

namespace lowbit::models {
namespace {

quant::Quantizer build(const QuantizerChoice& choice, bool is_end, bool full_precision_ends, int64_t channels,
                       int64_t channel_dim) {
  if (choice.name.empty() || choice.name == "identity" || (is_end && full_precision_ends)) return quant::Identity();
  Params params = choice.params;
  const auto per_channel = params.find("per_channel");
  const bool channel_quantizer = quant::takes_channels(choice.name);
  const bool needs_channels =
      channel_quantizer || (per_channel != params.end() && per_channel->second.isBool() && per_channel->second.toBool());
  if (needs_channels && !params.count("channels")) {
    params["channels"] = channels;
    const bool reads_channel_dim = !channel_quantizer || quant::takes_channel_dim(choice.name);
    if (reads_channel_dim && !params.count("channel_dim")) params["channel_dim"] = channel_dim;
  }
  return quant::make(choice.name, params);
}

// An error of the quantizer spec `key` (weight_quantizer, input_quantizer), keyed by its option
// when it names one.
OptionError within_spec(const c10::Error& e, const std::string& key) {
  std::vector<std::string> path{key};
  std::string detail = e.msg();
  if (const auto* option = dynamic_cast<const OptionError*>(&e)) {
    path.insert(path.end(), option->key().begin(), option->key().end());
    detail = option->detail();
  }
  return OptionError(path, key + ": " + e.msg(), detail);
}

}  // namespace

quant::Quantizer QuantPolicy::weight_quantizer(bool is_end, int64_t out_channels) const {
  try {
    return build(weight, is_end, full_precision_ends, out_channels, 0);
  } catch (const c10::Error& e) {
    throw within_spec(e, "weight_quantizer");
  }
}

quant::Quantizer QuantPolicy::input_quantizer(bool is_end, int64_t in_channels, int64_t channel_dim) const {
  try {
    return build(input, is_end, full_precision_ends, in_channels, channel_dim);
  } catch (const c10::Error& e) {
    throw within_spec(e, "input_quantizer");
  }
}

}  // namespace lowbit::models
