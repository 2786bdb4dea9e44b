#pragma once
// A 2-D convolution whose weight and input pass through quantizers:
//   y = conv2d(input_quantizer(x), weight_quantizer(W), b)
// With the default (identity) quantizers it is torch::nn::Conv2d: same parameters, same
// initialisation, same output. The layer owns deep copies of the quantizers given in its
// options (the options hold prototypes), reachable as `weight_quantizer` / `input_quantizer`.
// Publishes its output as the tap "output" (modules/taps/taps.h; `lowbit summary` reads the
// shapes of convolutions nested in blocks this way).

#include <lowbit/modules/hooks/training_hooks.h>
#include <lowbit/modules/quant/quantizer.h>

#include <torch/nn/cloneable.h>
#include <torch/nn/options/conv.h>

namespace lowbit::layers {

struct QConv2dOptions {
  QConv2dOptions(int64_t in_channels, int64_t out_channels, torch::ExpandingArray<2> kernel_size)
      : in_channels_(in_channels), out_channels_(out_channels), kernel_size_(kernel_size) {}
  TORCH_ARG(int64_t, in_channels);
  TORCH_ARG(int64_t, out_channels);
  TORCH_ARG(torch::ExpandingArray<2>, kernel_size);
  TORCH_ARG(torch::ExpandingArray<2>, stride) = 1;
  TORCH_ARG(torch::nn::Conv2dOptions::padding_t, padding) = 0;
  TORCH_ARG(torch::ExpandingArray<2>, dilation) = 1;
  TORCH_ARG(int64_t, groups) = 1;
  TORCH_ARG(bool, bias) = true;
  TORCH_ARG(quant::Quantizer, weight_quantizer) = nullptr;
  TORCH_ARG(quant::Quantizer, input_quantizer) = nullptr;
};

class QConv2dImpl : public torch::nn::Cloneable<QConv2dImpl>, public hooks::TrainingHooks {
 public:
  QConv2dImpl(int64_t in_channels, int64_t out_channels, torch::ExpandingArray<2> kernel_size)
      : QConv2dImpl(QConv2dOptions(in_channels, out_channels, kernel_size)) {}
  explicit QConv2dImpl(QConv2dOptions options);
  void reset() override;
  // torch::nn::Conv2d's initialisation: kaiming_uniform(a = sqrt(5)), bias U(-1/sqrt(fan_in), ..).
  void reset_parameters();
  torch::Tensor forward(const torch::Tensor& input);
  // After every optimizer step: the weight quantizer's settle_latent on the weight (BNN's clamp).
  void on_step_end() override;
  void pretty_print(std::ostream& stream) const override;

  QConv2dOptions options;
  torch::Tensor weight, bias;
  quant::Quantizer weight_quantizer{nullptr}, input_quantizer{nullptr};
};
TORCH_MODULE(QConv2d);

// "QConv2d(64->128, 3x3)", the prefix of the layer's error messages.
std::string describe(const QConv2dImpl& conv);

}  // namespace lowbit::layers
