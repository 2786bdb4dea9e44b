#pragma once
// torchvision's ResNet BasicBlock (He et al. CVPR 2016; torchvision/models/resnet.py), with
// QConv2d convolutions so that a policy can quantize it:
//   y = ReLU( BN2(conv2(ReLU(BN1(conv1_s(x))))) + downsample(x) ),
//   downsample = 1×1 conv, stride s → BN when the stride is not 1 or the width changes.
// Children carry torchvision's names (conv1, bn1, relu, conv2, bn2, downsample.0, downsample.1),
// so a torchvision state dict loads by name. BN is layers::BatchNorm (torch's BatchNorm2d, or
// SyncBatchNorm across replicas: layers/batch_norm.h).

#include <lowbit/modules/layers/qconv2d.h>

#include <torch/nn/modules/activation.h>
#include <lowbit/modules/layers/batch_norm.h>
#include <torch/nn/modules/container/sequential.h>

namespace lowbit::layers {

struct BasicBlockOptions {
  BasicBlockOptions(int64_t in_channels, int64_t out_channels)
      : in_channels_(in_channels), out_channels_(out_channels) {}
  TORCH_ARG(int64_t, in_channels);
  TORCH_ARG(int64_t, out_channels);
  TORCH_ARG(int64_t, stride) = 1;
  // The 3×3 convolutions' quantizers (prototypes, copied by the layer): the weight quantizer
  // serves both (their weights have out_channels filters); conv2's input quantizer is conv1's
  // unless given, which a channel quantizer (rsign) needs when the width changes.
  TORCH_ARG(quant::Quantizer, weight_quantizer) = nullptr;
  TORCH_ARG(quant::Quantizer, input_quantizer) = nullptr;
  TORCH_ARG(quant::Quantizer, conv2_input_quantizer) = nullptr;
  // The downsample 1×1 convolution's; full precision unless given.
  TORCH_ARG(quant::Quantizer, shortcut_weight_quantizer) = nullptr;
  TORCH_ARG(quant::Quantizer, shortcut_input_quantizer) = nullptr;
};

class BasicBlockImpl : public torch::nn::Cloneable<BasicBlockImpl> {
 public:
  explicit BasicBlockImpl(BasicBlockOptions options);
  void reset() override;
  torch::Tensor forward(const torch::Tensor& x);
  void pretty_print(std::ostream& stream) const override;

  BasicBlockOptions options;
  QConv2d conv1{nullptr}, conv2{nullptr};
  BatchNorm bn1{nullptr}, bn2{nullptr};
  torch::nn::ReLU relu{nullptr};
  torch::nn::Sequential downsample{nullptr};
};
TORCH_MODULE(BasicBlock);

}  // namespace lowbit::layers
