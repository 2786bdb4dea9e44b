#pragma once
// A Sequential that can sit inside another Sequential (a ResNet stage inside a model): the
// forward is a plain Tensor -> Tensor, which AnyModule needs, and clone() keeps the type and
// the children's names.

#include <torch/nn/modules/container/sequential.h>

namespace lowbit::layers {

class StageImpl : public torch::nn::SequentialImpl {
 public:
  using SequentialImpl::SequentialImpl;
  torch::Tensor forward(const torch::Tensor& x) { return SequentialImpl::forward(x); }
  std::shared_ptr<torch::nn::Module> clone(const std::optional<torch::Device>& device = std::nullopt) const override;
};
TORCH_MODULE(Stage);

}  // namespace lowbit::layers
