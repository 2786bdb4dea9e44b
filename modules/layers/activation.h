#pragma once
// The per-channel nonlinearities that binary ResNets put after a residual addition, by name:
//   none   : Bi-Real Net (the identity)
//   prelu  : PReLU, one slope per channel, init 0.25 (torch::nn::PReLU)
//   rprelu : ReActNet's RPReLU (modules/layers/rprelu.h)
//   maxout : AdaBin's Maxout (modules/layers/maxout.h)
//   relu   : ReLU (real-valued networks, e.g. the RPN's convolution; no parameters)

#include <torch/nn/modules/container/any.h>

#include <string>

namespace lowbit::layers {

enum class Activation { None, PReLU, RPReLU, Maxout, ReLU };

// "none", "prelu", "rprelu", "maxout" or "relu"; throws naming the accepted names otherwise.
Activation parse_activation(const std::string& name);
std::string to_string(Activation activation);

// The module for `channels` channels; an empty AnyModule for Activation::None.
torch::nn::AnyModule make_activation(Activation activation, int64_t channels);

}  // namespace lowbit::layers
