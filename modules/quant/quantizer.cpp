#include <lowbit/modules/quant/quantizer.h>

#include <lowbit/modules/quant/identity.h>

namespace lowbit::quant {

void copy_state(const torch::nn::Module& from, torch::nn::Module& to, const std::optional<torch::Device>& device) {
  torch::NoGradGuard no_grad;
  const auto copy = [&](const torch::Tensor& value, torch::Tensor target) {
    target.set_data(device && value.device() != *device ? value.to(*device) : value.clone());
  };
  auto to_parameters = to.named_parameters();
  for (const auto& p : from.named_parameters()) copy(p.value(), to_parameters[p.key()]);
  auto to_buffers = to.named_buffers();
  for (const auto& b : from.named_buffers()) copy(b.value(), to_buffers[b.key()]);
}

Quantizer adopt(const Quantizer& prototype) {
  if (prototype.is_empty()) return Identity();
  return Quantizer(std::dynamic_pointer_cast<QuantizerImpl>(prototype->clone()));
}

}  // namespace lowbit::quant
