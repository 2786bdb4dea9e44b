#pragma once
// A fully connected layer whose weight and input pass through quantizers:
//   y = linear(input_quantizer(x), weight_quantizer(W), b)
// With the default (identity) quantizers it is torch::nn::Linear. The layer owns deep copies of
// the quantizers given in its options. Publishes its output as the tap "output".

#include <lowbit/modules/hooks/training_hooks.h>
#include <lowbit/modules/quant/quantizer.h>

#include <torch/nn/cloneable.h>

namespace lowbit::layers {

struct QLinearOptions {
  QLinearOptions(int64_t in_features, int64_t out_features) : in_features_(in_features), out_features_(out_features) {}
  TORCH_ARG(int64_t, in_features);
  TORCH_ARG(int64_t, out_features);
  TORCH_ARG(bool, bias) = true;
  TORCH_ARG(quant::Quantizer, weight_quantizer) = nullptr;
  TORCH_ARG(quant::Quantizer, input_quantizer) = nullptr;
};

class QLinearImpl : public torch::nn::Cloneable<QLinearImpl>, public hooks::TrainingHooks {
 public:
  QLinearImpl(int64_t in_features, int64_t out_features) : QLinearImpl(QLinearOptions(in_features, out_features)) {}
  explicit QLinearImpl(QLinearOptions options);
  void reset() override;
  void reset_parameters();
  torch::Tensor forward(const torch::Tensor& input);
  // After every optimizer step: the weight quantizer's settle_latent on the weight (BNN's clamp).
  void on_step_end() override;
  void pretty_print(std::ostream& stream) const override;

  QLinearOptions options;
  torch::Tensor weight, bias;
  quant::Quantizer weight_quantizer{nullptr}, input_quantizer{nullptr};
};
TORCH_MODULE(QLinear);

// "QLinear(256->10)", the prefix of the layer's error messages.
std::string describe(const QLinearImpl& linear);

}  // namespace lowbit::layers
