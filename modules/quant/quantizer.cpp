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

namespace {

// One value, or one per output channel, as a column that broadcasts against q viewed [rows, cols].
torch::Tensor per_row(const torch::Tensor& v) { return v.detach().to(torch::kFloat).flatten().view({-1, 1}); }

int64_t bits_for(int64_t levels) {
  int64_t bits = 1;
  while ((int64_t{1} << bits) < levels) ++bits;
  return bits;
}

}  // namespace

ExportedWeight QuantizerImpl::export_weight(const torch::Tensor& w) {
  torch::NoGradGuard no_grad;
  const bool was_training = is_training();
  eval();
  ExportedWeight out;
  out.values = forward(w).to(torch::kFloat);
  train(was_training);
  const auto rows = out.values.reshape({out.values.size(0), -1});
  if (outputs_scaled_signs()) {
    out.scales = rows.abs().amax(1);
    out.codes = torch::sign(out.values).to(torch::kInt);
    out.code_min = -1, out.code_max = 1, out.bits = bits();
    const auto rebuilt = out.codes.view_as(rows).to(torch::kFloat) * out.scales.view({-1, 1});
    TORCH_CHECK(torch::equal(rebuilt, rows), name(), ": export_weight: the quantized weight is not one magnitude per ",
                "output channel times -1, 0 or +1");
    return out;
  }
  const auto grid = weight_grid(w, out.values);
  if (!grid) return out;
  const auto scale = per_row(grid->scale), offset = grid->offset.defined() ? per_row(grid->offset) : torch::Tensor();
  TORCH_CHECK(scale.size(0) == 1 || scale.size(0) == rows.size(0), name(), ": export_weight: ", scale.size(0),
              " scales for a weight of ", rows.size(0), " output channels");
  const auto shifted = offset.defined() ? rows - offset : rows;
  const auto codes = torch::where(scale != 0, torch::round(shifted / scale), torch::zeros_like(shifted));
  // q is code scale + offset rounded once or twice to float32: within 2^-22 (|code scale| + |offset|)
  // of the exact value.
  const auto product = codes.to(torch::kDouble) * scale.to(torch::kDouble);
  const auto shift = offset.defined() ? offset.to(torch::kDouble) : torch::zeros({1, 1}, rows.options().dtype(torch::kDouble));
  const auto miss = ((rows.to(torch::kDouble) - (product + shift)).abs() -
                     (product.abs() + shift.abs()) * std::ldexp(1.0, -22))
                        .max()
                        .item<double>();
  TORCH_CHECK(miss <= 0 && codes.min().item<double>() >= static_cast<double>(grid->code_min) &&
                  codes.max().item<double>() <= static_cast<double>(grid->code_max),
              name(), ": export_weight: the quantized weight is not on its grid of codes ", grid->code_min, " to ",
              grid->code_max, " (off by up to ", miss, " beyond a rounding)");
  out.codes = codes.to(torch::kInt).view_as(out.values);
  out.scales = scale.flatten();
  if (offset.defined()) out.offsets = offset.flatten();
  out.code_min = grid->code_min, out.code_max = grid->code_max;
  out.bits = bits_for(grid->code_max - grid->code_min + 1);
  return out;
}

std::optional<WeightGrid> QuantizerImpl::weight_grid(const torch::Tensor& w, const torch::Tensor& q) {
  (void)q;
  const auto grid = uniform_grid();
  if (!grid || (grid->step.numel() > 1 && (grid->channel_dim != 0 || grid->step.numel() != w.size(0)))) {
    return std::nullopt;
  }
  const auto& r = grid->range;
  return WeightGrid{grid->step, grid->offset, r.sign ? -1 : -r.qn, r.qp};
}

Quantizer adopt_weight(const Quantizer& prototype) {
  if (prototype.is_empty()) return Identity();
  return Quantizer(std::dynamic_pointer_cast<QuantizerImpl>(prototype->clone()));
}

void settle_latent_weight(const QuantizerImpl& quantizer, torch::Tensor& weight) {
  if (!quantizer.settles_latent() || !weight.requires_grad()) return;  // every layer, every step: cheap when off
  torch::NoGradGuard no_grad;
  quantizer.settle_latent(weight);
}

Quantizer adopt(const Quantizer& prototype) {
  TORCH_CHECK_VALUE(prototype.is_empty() || !prototype->settles_latent(), prototype->registry_name(),
                    ": its latent-weight options (latent_clip, latent_center) rewrite the weight of a QConv2d or "
                    "QLinear after each step, so only such a layer's weight quantizer takes them");
  return adopt_weight(prototype);
}

}  // namespace lowbit::quant
