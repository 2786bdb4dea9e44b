#include <lowbit/modules/layers/activation.h>

#include <lowbit/csrc/util/suggest.h>
#include <lowbit/modules/layers/maxout.h>
#include <lowbit/modules/layers/rprelu.h>

#include <torch/nn/modules/activation.h>

#include <vector>

namespace lowbit::layers {
namespace {

const std::vector<std::string> kActivationNames = {"none", "prelu", "rprelu", "maxout", "relu"};

}  // namespace

Activation parse_activation(const std::string& name) {
  return static_cast<Activation>(util::choose("activation", name, kActivationNames));
}

std::string to_string(Activation activation) { return kActivationNames.at(static_cast<size_t>(activation)); }

torch::nn::AnyModule make_activation(Activation activation, int64_t channels) {
  switch (activation) {
    case Activation::None:
      return {};
    case Activation::PReLU:
      return torch::nn::AnyModule(torch::nn::PReLU(torch::nn::PReLUOptions().num_parameters(channels)));
    case Activation::RPReLU:
      return torch::nn::AnyModule(RPReLU(channels));
    case Activation::Maxout:
      return torch::nn::AnyModule(Maxout(channels));
    case Activation::ReLU:
      return torch::nn::AnyModule(torch::nn::ReLU());
  }
  TORCH_CHECK(false, "unknown activation");
}

}  // namespace lowbit::layers
