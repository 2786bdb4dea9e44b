#pragma once
// Models by name: a recipe's `model: {name: small_cnn, channels: [32, 64, 128]}` and a C++
// user's `models::make("small_cnn", params, policy)` reach the same builder. A model is a
// torch::nn::Sequential whose QConv2d / QLinear layers take their quantizers from the policy.

#include <lowbit/csrc/util/params.h>
#include <lowbit/modules/models/quant_policy.h>

#include <torch/nn/modules/container/sequential.h>

#include <functional>
#include <string>
#include <vector>

namespace lowbit::models {

using Factory = std::function<torch::nn::Sequential(ParamReader&, const QuantPolicy&)>;

bool register_model(const std::string& name, Factory factory);

// Throws naming an unknown model (with a suggestion) or a bad option.
torch::nn::Sequential make(const std::string& name, const Params& params, const QuantPolicy& policy);

std::vector<std::string> registered_models();

}  // namespace lowbit::models

#define LOWBIT_REGISTER_MODEL(name, factory) \
  static const bool lowbit_model_registered_##name = ::lowbit::models::register_model(#name, factory)
