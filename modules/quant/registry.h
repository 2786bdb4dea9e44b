#pragma once
// Quantizers by name, so that a recipe's `weight_quantizer: {name: lsq, bits: 4}` and a C++
// user's `quant::make("lsq", {{"bits", 4}})` reach the same constructor. Each quantizer's .cpp
// registers its factory with LOWBIT_REGISTER_QUANTIZER; factories read their options through a
// ParamReader, so an unknown or mistyped option is an error that names it.

#include <lowbit/csrc/util/params.h>
#include <lowbit/modules/quant/quantizer.h>

#include <functional>
#include <string>
#include <vector>

namespace lowbit::quant {

using Factory = std::function<Quantizer(ParamReader&)>;

// What a QuantPolicy fills in for a quantizer from the layer it quantizes. Channels: the
// quantizer always has per-channel state and requires the option `channels` (rsign, rebnn, ...).
// ChannelsAndDim: it also reads `channel_dim`, the axis of that state (qvit_act: dim 1 of a
// convolution's input, -1 of a token's).
enum class ChannelState { None, Channels, ChannelsAndDim };

// Registers `factory` under `name`; a name registered twice is a programming error (throws).
bool register_quantizer(const std::string& name, Factory factory, ChannelState channel_state = ChannelState::None);

// Whether `name` was registered with ChannelState Channels (or ChannelsAndDim) / ChannelsAndDim
// (false for unknown names).
bool takes_channels(const std::string& name);
bool takes_channel_dim(const std::string& name);

// Builds the quantizer `name` from `params`; throws on an unknown name (with a suggestion) and
// on unknown, mistyped or out-of-range options.
Quantizer make(const std::string& name, const Params& params = {});

// The registered names, sorted.
std::vector<std::string> registered_quantizers();

// The option latent_clip of the quantizers that settle a latent weight (sign, xnor): c >= 0, 0 off.
double read_latent_clip(ParamReader& p);

}  // namespace lowbit::quant

#define LOWBIT_REGISTER_QUANTIZER(name, factory) \
  static const bool lowbit_quantizer_registered_##name = ::lowbit::quant::register_quantizer(#name, factory)
#define LOWBIT_REGISTER_CHANNEL_QUANTIZER(name, factory)  \
  static const bool lowbit_quantizer_registered_##name = \
      ::lowbit::quant::register_quantizer(#name, factory, ::lowbit::quant::ChannelState::Channels)
#define LOWBIT_REGISTER_CHANNEL_DIM_QUANTIZER(name, factory) \
  static const bool lowbit_quantizer_registered_##name =      \
      ::lowbit::quant::register_quantizer(#name, factory, ::lowbit::quant::ChannelState::ChannelsAndDim)
