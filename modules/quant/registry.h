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

// Registers `factory` under `name`; a name registered twice is a programming error (throws).
// `takes_channels`: the quantizer always has per-channel state and requires the option
// `channels` (rsign, rebnn, ...), which a QuantPolicy fills in from the layer it quantizes.
// `takes_channel_dim`: it also reads the option `channel_dim` (the axis of that state), which
// the QuantPolicy fills in too (qvit_act: dim 1 of a convolution's input, -1 of a token's).
bool register_quantizer(const std::string& name, Factory factory, bool takes_channels = false,
                        bool takes_channel_dim = false);

// Whether `name` was registered with takes_channels / takes_channel_dim (false for unknown names).
bool takes_channels(const std::string& name);
bool takes_channel_dim(const std::string& name);

// Builds the quantizer `name` from `params`; throws on an unknown name (with a suggestion) and
// on unknown, mistyped or out-of-range options.
Quantizer make(const std::string& name, const Params& params = {});

// The registered names, sorted.
std::vector<std::string> registered_quantizers();

}  // namespace lowbit::quant

#define LOWBIT_REGISTER_QUANTIZER(name, factory) \
  static const bool lowbit_quantizer_registered_##name = ::lowbit::quant::register_quantizer(#name, factory)
#define LOWBIT_REGISTER_CHANNEL_QUANTIZER(name, factory) \
  static const bool lowbit_quantizer_registered_##name = ::lowbit::quant::register_quantizer(#name, factory, true)
#define LOWBIT_REGISTER_CHANNEL_DIM_QUANTIZER(name, factory) \
  static const bool lowbit_quantizer_registered_##name =      \
      ::lowbit::quant::register_quantizer(#name, factory, true, true)
