#pragma once
// Which layers of a model become low-bit, and how: one weight and one input quantizer spec for
// every QConv2d / QLinear, except that the first and last layer stay real-valued when
// `full_precision_ends` (as in BNN, XNOR-Net, Bi-Real Net, ReActNet and most binary networks).

#include <lowbit/csrc/util/params.h>
#include <lowbit/modules/quant/quantizer.h>

#include <string>

namespace lowbit::models {

struct QuantizerChoice {
  std::string name;  // "" or "identity": full precision
  Params params;
};

struct QuantPolicy {
  QuantizerChoice weight, input;
  bool full_precision_ends = true;

  // The quantizers of a layer with `in_channels` inputs and `out_channels` outputs. A spec that
  // needs a channel count (rsign, or per_channel: true) gets `channels` filled in when absent:
  // the output channels for weights (channel_dim 0), the input channels for inputs, along
  // `channel_dim` (1 for a convolution's [B, C, H, W]; -1 for a linear layer on tokens
  // [B, N, C]), which is filled in as well when the quantizer reads it.
  // Errors are OptionErrors keyed {"weight_quantizer" | "input_quantizer", <option>} ("name"
  // for an unknown quantizer), their messages prefixed "weight_quantizer: " / "input_quantizer: ".
  quant::Quantizer weight_quantizer(bool is_end, int64_t out_channels) const;
  quant::Quantizer input_quantizer(bool is_end, int64_t in_channels, int64_t channel_dim = 1) const;
};

}  // namespace lowbit::models
