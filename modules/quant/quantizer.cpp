#include <lowbit/modules/quant/quantizer.h>

#include <lowbit/modules/quant/identity.h>

#include <ATen/ATen.h>

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

std::optional<ExportedWeight> QuantizerImpl::export_weight(const torch::Tensor& w) {
  if (!outputs_scaled_signs()) return std::nullopt;
  torch::NoGradGuard no_grad;
  const bool was_training = is_training();
  eval();
  const auto q = forward(w).to(torch::kFloat);
  train(was_training);
  const auto rows = q.reshape({q.size(0), -1});
  auto scales = rows.abs().amax(1);
  auto codes = torch::sign(q).to(torch::kChar);
  const auto rebuilt = codes.to(torch::kFloat) * scales.view({-1, 1}).expand_as(rows).reshape(q.sizes());
  TORCH_CHECK(torch::equal(rebuilt, q), name(), ": export_weight: the quantized weight is not one magnitude per output ",
              "channel times -1, 0 or +1");
  return ExportedWeight{codes, scales, bits()};
}

Quantizer adopt(const Quantizer& prototype) {
  if (prototype.is_empty()) return Identity();
  return Quantizer(std::dynamic_pointer_cast<QuantizerImpl>(prototype->clone()));
}

}  // namespace lowbit::quant
