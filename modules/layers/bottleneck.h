#pragma once
// torchvision's ResNet Bottleneck (He et al. CVPR 2016; torchvision/models/resnet.py, "ResNet
// v1.5": the stride on the 3×3 convolution), with QConv2d convolutions so that a policy can
// quantize it:
//   y = ReLU( BN3(conv3_1x1(ReLU(BN2(conv2_3x3,s(ReLU(BN1(conv1_1x1(x)))))))) + downsample(x) ),
//   conv1: in -> width, conv2: width -> width, conv3: width -> 4 width;
//   downsample = 1×1 conv, stride s → BN when the stride is not 1 or in != 4 width.
// Children carry torchvision's names (conv1, bn1, conv2, bn2, conv3, bn3, relu, downsample.0,
// downsample.1), which are also mmdetection's, so their state dicts load by name.

#include <lowbit/modules/layers/batch_norm.h>
#include <lowbit/modules/layers/qconv2d.h>

#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/container/sequential.h>

namespace lowbit::layers {

struct BottleneckOptions {
  BottleneckOptions(int64_t in_channels, int64_t width) : in_channels_(in_channels), width_(width) {}
  TORCH_ARG(int64_t, in_channels);
  TORCH_ARG(int64_t, width);  // torchvision's `planes`; the block outputs 4 width
  TORCH_ARG(int64_t, stride) = 1;
  // Quantizers (prototypes, copied by the layer): weight_quantizer serves conv1 and conv2 (width
  // filters), conv3_weight_quantizer conv3 (4 width filters); input_quantizer conv1's input (in
  // channels), inner_input_quantizer conv2's and conv3's (width channels). Real unless given.
  TORCH_ARG(quant::Quantizer, weight_quantizer) = nullptr;
  TORCH_ARG(quant::Quantizer, conv3_weight_quantizer) = nullptr;
  TORCH_ARG(quant::Quantizer, input_quantizer) = nullptr;
  TORCH_ARG(quant::Quantizer, inner_input_quantizer) = nullptr;
  // The downsample 1×1 convolution's.
  TORCH_ARG(quant::Quantizer, shortcut_weight_quantizer) = nullptr;
  TORCH_ARG(quant::Quantizer, shortcut_input_quantizer) = nullptr;

 public:
  int64_t out_channels() const { return 4 * width_; }
};

class BottleneckImpl : public torch::nn::Cloneable<BottleneckImpl> {
 public:
  explicit BottleneckImpl(BottleneckOptions options);
  void reset() override;
  torch::Tensor forward(const torch::Tensor& x);
  void pretty_print(std::ostream& stream) const override;

  BottleneckOptions options;
  QConv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr};
  BatchNorm bn1{nullptr}, bn2{nullptr}, bn3{nullptr};
  torch::nn::ReLU relu{nullptr};
  torch::nn::Sequential downsample{nullptr};
};
TORCH_MODULE(Bottleneck);

}  // namespace lowbit::layers
