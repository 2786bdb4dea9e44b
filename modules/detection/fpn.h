#pragma once
// Feature Pyramid Network (Lin et al., CVPR 2017) as mmdetection v2.0's FPN (mmdet/models/necks/
// fpn.py) for Faster R-CNN and IDa-Det's FPN_REACT_3x3 (mmdet/models/necks/fpn_react_3x3.py):
//   L_i = act(lateral_i(C_i))                           (1x1 in mmdet; 3x3 in IDa-Det)
//   L_{i-1} += nearest-upsample(L_i) to L_{i-1}'s size  (top-down, from the coarsest)
//   P_i = act(output_i(L_i))                            (3x3)
//   then max_pool(kernel 1, stride 2) of the last P until `outs` levels (P6 for Faster R-CNN).
// Taps: every output level as "p2", "p3", ... (P2 is the first input's level, stride 4 for a
// ResNet's C2 .. C5), which IDa-Det's entropy distillation reads (losses/entropy.h).
// act: none (mmdet) or a PReLU per level and place with one slope per channel (IDa-Det). The
// convolutions have biases and start xavier-uniform with zero biases (init_weights); IDa-Det's
// are BiConvs: the quantizer options (idadet weights, ApproxSign inputs).

#include <lowbit/modules/layers/activation.h>
#include <lowbit/modules/layers/qconv2d.h>

#include <torch/nn/cloneable.h>
#include <torch/nn/modules/container/any.h>
#include <torch/nn/modules/container/modulelist.h>

#include <vector>

namespace lowbit::detection {

struct FPNOptions {
  FPNOptions(std::vector<int64_t> in_channels) : in_channels_(std::move(in_channels)) {}  // NOLINT
  TORCH_ARG(std::vector<int64_t>, in_channels);
  TORCH_ARG(int64_t, out_channels) = 256;
  TORCH_ARG(int64_t, outs) = 5;
  TORCH_ARG(int64_t, lateral_kernel) = 1;
  TORCH_ARG(layers::Activation, activation) = layers::Activation::None;
  TORCH_ARG(quant::Quantizer, weight_quantizer) = nullptr;
  TORCH_ARG(quant::Quantizer, input_quantizer) = nullptr;
};

class FPNImpl : public torch::nn::Cloneable<FPNImpl> {
 public:
  explicit FPNImpl(FPNOptions options);
  void reset() override;
  // C_i [B, in_channels[i], H_i, W_i] -> P_i [B, out_channels, ...], `outs` of them.
  std::vector<torch::Tensor> forward(const std::vector<torch::Tensor>& inputs);

  FPNOptions options;
  torch::nn::ModuleList laterals{nullptr}, outputs{nullptr};  // QConv2d each
  // One per level each (registered as lateral_activations.i, output_activations.i); empty without
  // an activation.
  std::vector<torch::nn::AnyModule> lateral_activations, output_activations;
};
TORCH_MODULE(FPN);

}  // namespace lowbit::detection
