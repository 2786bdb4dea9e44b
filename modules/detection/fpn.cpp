#include <lowbit/modules/detection/fpn.h>

#include <lowbit/modules/taps/taps.h>

#include <torch/nn/functional/pooling.h>
#include <torch/nn/functional/upsampling.h>
#include <torch/nn/init.h>

namespace lowbit::detection {

FPNImpl::FPNImpl(FPNOptions options_) : options(std::move(options_)) { reset(); }

void FPNImpl::reset() {
  const auto& o = options;
  const int64_t levels = static_cast<int64_t>(o.in_channels().size());
  TORCH_CHECK_VALUE(levels > 0 && o.outs() >= levels, "FPN: needs at least one input level and outs >= inputs, got ",
                    levels, " inputs and outs ", o.outs());
  TORCH_CHECK_VALUE(o.lateral_kernel() == 1 || o.lateral_kernel() == 3, "FPN: lateral_kernel must be 1 or 3, got ",
                    o.lateral_kernel());
  const auto conv = [&](int64_t in, int64_t kernel) {
    layers::QConv2d c(layers::QConv2dOptions(in, o.out_channels(), kernel)
                          .padding(kernel / 2)
                          .weight_quantizer(o.weight_quantizer())
                          .input_quantizer(o.input_quantizer()));
    const torch::NoGradGuard no_grad;
    torch::nn::init::xavier_uniform_(c->weight);
    torch::nn::init::zeros_(c->bias);
    return c;
  };
  laterals = torch::nn::ModuleList(), outputs = torch::nn::ModuleList();
  lateral_activations.clear(), output_activations.clear();
  torch::nn::ModuleList lateral_acts, output_acts;
  for (const int64_t in : o.in_channels()) {
    TORCH_CHECK_VALUE(in > 0, "FPN: input channels must be positive, got ", in);
    laterals->push_back(conv(in, o.lateral_kernel()));
    outputs->push_back(conv(o.out_channels(), 3));
    if (o.activation() != layers::Activation::None) {
      lateral_activations.push_back(layers::make_activation(o.activation(), o.out_channels()));
      output_activations.push_back(layers::make_activation(o.activation(), o.out_channels()));
      lateral_acts->push_back(lateral_activations.back().ptr());
      output_acts->push_back(output_activations.back().ptr());
    }
  }
  register_module("laterals", laterals);
  register_module("outputs", outputs);
  if (!lateral_activations.empty()) {
    register_module("lateral_activations", lateral_acts);
    register_module("output_activations", output_acts);
  }
}

std::vector<torch::Tensor> FPNImpl::forward(const std::vector<torch::Tensor>& inputs) {
  const size_t levels = options.in_channels().size();
  TORCH_CHECK(inputs.size() == levels, "FPN: expected ", levels, " input levels, got ", inputs.size());
  const auto conv = [](torch::nn::ModuleList& list, size_t i, const torch::Tensor& x) {
    return list[i]->as<layers::QConv2dImpl>()->forward(x);
  };
  const auto act = [](std::vector<torch::nn::AnyModule>& list, size_t i, const torch::Tensor& x) {
    return list.empty() ? x : list[i].forward(x);
  };
  std::vector<torch::Tensor> l;
  for (size_t i = 0; i < levels; ++i) {
    TORCH_CHECK(inputs[i].dim() == 4 && inputs[i].size(1) == options.in_channels()[i], "FPN: expected level ", i,
                " as [B, ", options.in_channels()[i], ", H, W], got shape ", inputs[i].sizes());
    l.push_back(act(lateral_activations, i, conv(laterals, i, inputs[i])));
  }
  namespace F = torch::nn::functional;
  for (size_t i = levels - 1; i > 0; --i) {
    const std::vector<int64_t> size = {l[i - 1].size(2), l[i - 1].size(3)};
    l[i - 1] = l[i - 1] + F::interpolate(l[i], F::InterpolateFuncOptions().size(size).mode(torch::kNearest));
  }
  std::vector<torch::Tensor> p;
  for (size_t i = 0; i < levels; ++i) p.push_back(act(output_activations, i, conv(outputs, i, l[i])));
  while (static_cast<int64_t>(p.size()) < options.outs()) {
    p.push_back(F::max_pool2d(p.back(), F::MaxPool2dFuncOptions(1).stride(2)));
  }
  for (size_t i = 0; i < p.size(); ++i) taps::publish(*this, "p" + std::to_string(i + 2), p[i]);
  return p;
}

}  // namespace lowbit::detection
