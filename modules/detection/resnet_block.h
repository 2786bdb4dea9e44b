#pragma once
// torchvision's ResNet blocks (torchvision/models/resnet.py) with DETR's FrozenBatchNorm2d and
// QConv2d convolutions, for the detection backbones:
//   BasicBlock  (resnet18/34):  3x3 (stride s) -> 3x3,               out = width
//   Bottleneck  (resnet50/101): 1x1 -> 3x3 (stride s) -> 1x1,        out = 4 width  (ResNet v1.5)
//   y = act( bn_n(conv_n( ... act(bn_1(conv_1(x))) ... )) + downsample(x) ),
//   downsample = 1x1 conv, stride s -> FrozenBatchNorm2d, when the stride is not 1 or the width changes.
// Activation `relu`: torchvision's. `rprelu`: the layout of the third-party Q-DETR release
// (Hzbupahaozi/Q-DETR models/quant_smca_detr/quant_resnet.py): an RPReLU (bias -> PReLU -> bias,
// layers::RPReLU) on the input of every convolution of the residual branch, including the first
// (the block's input, while the shortcut takes x itself), and one after the residual sum.
// Children carry torchvision's names (conv1, bn1, conv2, bn2, conv3, bn3, downsample.0,
// downsample.1), so DETR / torchvision state dicts load by name; RPReLUs are rprelu1..rprelu<n>
// (before conv<i>) and rprelu_out.

#include <lowbit/modules/detection/frozen_batch_norm.h>
#include <lowbit/modules/detection/quantizer_factory.h>
#include <lowbit/modules/layers/qconv2d.h>
#include <lowbit/modules/layers/rprelu.h>

#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/container/sequential.h>

#include <string>
#include <vector>

namespace lowbit::detection {

enum class BackboneActivation { ReLU, RPReLU };

BackboneActivation parse_backbone_activation(const std::string& name);  // "relu" | "rprelu"

struct ResidualBlockOptions {
  ResidualBlockOptions(int64_t in_channels, int64_t width) : in_channels_(in_channels), width_(width) {}
  TORCH_ARG(int64_t, in_channels);
  TORCH_ARG(int64_t, width);  // the 3x3 convolution's channels (torchvision's `planes`)
  TORCH_ARG(int64_t, stride) = 1;
  TORCH_ARG(bool, bottleneck) = false;
  TORCH_ARG(BackboneActivation, activation) = BackboneActivation::ReLU;
  TORCH_ARG(LayerQuantizers, quantizers);             // the residual branch's convolutions
  TORCH_ARG(LayerQuantizers, downsample_quantizers);  // the shortcut's 1x1 convolution

 public:
  int64_t out_channels() const { return bottleneck_ ? 4 * width_ : width_; }
};

class ResidualBlockImpl : public torch::nn::Cloneable<ResidualBlockImpl> {
 public:
  explicit ResidualBlockImpl(ResidualBlockOptions options);
  void reset() override;
  torch::Tensor forward(const torch::Tensor& x);
  void pretty_print(std::ostream& stream) const override;

  ResidualBlockOptions options;
  std::vector<layers::QConv2d> convs;
  std::vector<FrozenBatchNorm2d> norms;
  std::vector<layers::RPReLU> rprelus;  // rprelu1 .. rprelu<n>, rprelu_out (activation rprelu)
  torch::nn::ReLU relu{nullptr};        // activation relu
  torch::nn::Sequential downsample{nullptr};

 private:
  torch::Tensor activate(size_t index, const torch::Tensor& x);
};
TORCH_MODULE(ResidualBlock);

}  // namespace lowbit::detection
