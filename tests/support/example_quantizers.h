#pragma once
// The options every registered quantizer can be built with for a [16, 16, 5, 5] input: 16 channels
// (dim 0 of a weight, dim 1 of an activation: both 16 here), and 2 bits where it needs bits.

#include <lowbit/modules/quant/registry.h>

#include "support/error_of.h"

#include <string>

namespace lowbit::testing {

inline lowbit::Params example_params(const std::string& name) {
  lowbit::Params params;
  if (lowbit::quant::takes_channels(name)) params["channels"] = int64_t{16};
  if (lowbit::quant::takes_channel_dim(name)) params["channel_dim"] = int64_t{1};
  if (error_of([&] { lowbit::quant::make(name, params); }).find("missing option 'bits'") != std::string::npos) {
    params["bits"] = int64_t{2};
  }
  return params;
}

}  // namespace lowbit::testing
