#include <lowbit/modules/models/initialisation.h>

#include <lowbit/modules/layers/binary_residual_unit.h>
#include <lowbit/modules/layers/qlinear.h>

#include <torch/nn/init.h>

namespace lowbit::models {

const std::vector<std::string>& init_names() {
  static const std::vector<std::string> names = {"fan_out", "fan_in", "reactnet"};
  return names;
}

void initialise(torch::nn::Module& net, Init init) {
  torch::NoGradGuard no_grad;
  namespace I = torch::nn::init;
  for (const auto& m : net.modules(/*include_self=*/false)) {
    if (init == Init::ReActNet) {
      auto* unit = dynamic_cast<layers::BinaryResidualUnitImpl*>(m.get());
      if (unit && unit->conv->weight_quantizer->bits() < 32) unit->conv->weight.uniform_(0, 1).mul_(1e-3);
    } else if (auto* conv = dynamic_cast<layers::QConv2dImpl*>(m.get())) {
      const auto mode = init == Init::FanOut ? I::FanModeType(torch::kFanOut) : I::FanModeType(torch::kFanIn);
      I::kaiming_normal_(conv->weight, 0, mode, torch::kReLU);
    } else if (auto* fc = dynamic_cast<layers::QLinearImpl*>(m.get()); fc && init == Init::FanIn) {
      I::kaiming_normal_(fc->weight, 0, torch::kFanIn, torch::kReLU);
    }
  }
}

}  // namespace lowbit::models
