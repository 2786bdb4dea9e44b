#include <lowbit/csrc/engine/task/model.h>

#include <c10/util/Exception.h>

namespace lowbit::engine {

LossDict::LossDict(std::initializer_list<std::pair<std::string, torch::Tensor>> entries) {
  for (const auto& [name, value] : entries) add(name, value);
}

void LossDict::add(const std::string& name, torch::Tensor value) {
  for (const auto& entry : entries_) TORCH_CHECK(entry.first != name, "LossDict: a second loss named '", name, "'");
  entries_.emplace_back(name, std::move(value));
}

torch::Tensor LossDict::total() const {
  TORCH_CHECK(!entries_.empty(), "LossDict: no losses to sum");
  torch::Tensor sum = entries_.front().second;
  for (size_t i = 1; i < entries_.size(); ++i) sum = sum + entries_[i].second;
  return sum;
}

std::vector<std::string> LossDict::names() const {
  std::vector<std::string> names;
  for (const auto& entry : entries_) names.push_back(entry.first);
  return names;
}

void adopt_members(torch::nn::Module& into, torch::nn::Module& from) {
  for (const auto& child : from.named_children()) into.register_module(child.key(), child.value());
  for (const auto& p : from.named_parameters(false)) into.register_parameter(p.key(), p.value(), p.value().requires_grad());
  for (const auto& b : from.named_buffers(false)) into.register_buffer(b.key(), b.value());
}

const torch::Tensor& output(const Outputs& outputs, const std::string& name, const std::string& who) {
  const auto it = outputs.find(name);
  if (it == outputs.end()) {
    std::string present;
    for (const auto& entry : outputs) present += (present.empty() ? "" : ", ") + entry.first;
    TORCH_CHECK(false, who, ": the model has no output '", name, "' (its outputs: ", present.empty() ? "none" : present, ")");
  }
  return it->second;
}

}  // namespace lowbit::engine
