#pragma once
// A layer with more than one output, such as DeiT's class and distillation heads. forward()
// returns the main output, as a torch::nn::Sequential needs; outputs() returns every output by
// name, the main one first as "logits". The engine's Classifier (csrc/engine/task/classifier.h)
// reports all of them when such a layer ends a Sequential, so that a loss term can name
// "dist_logits" as it names "logits".

#include <ATen/core/Tensor.h>

#include <string>
#include <utility>
#include <vector>

namespace lowbit::layers {

class NamedOutputs {
 public:
  virtual ~NamedOutputs() = default;
  virtual std::vector<std::pair<std::string, at::Tensor>> outputs(const at::Tensor& input) = 0;
};

}  // namespace lowbit::layers
