#include <lowbit/modules/layers/stage.h>

namespace lowbit::layers {

std::shared_ptr<torch::nn::Module> StageImpl::clone(const std::optional<torch::Device>& device) const {
  auto copy = std::make_shared<StageImpl>();
  const auto names = named_children();
  size_t index = 0;
  for (const auto& module : *this) copy->push_back(names[index++].key(), module.clone(device));
  return copy;
}

}  // namespace lowbit::layers
