#pragma once
// DETR's backbone (facebookresearch/detr models/backbone.py): a torchvision ResNet with
// FrozenBatchNorm2d, of which only layer4's feature map is used, joined with the sine position
// encoding. The module tree keeps the official names, so that DETR's state dicts load by name:
//   backbone          Joiner:   "0" the Backbone, "1" the PositionEmbeddingSine (no state)
//   backbone.0        Backbone: "body", the ResNet up to layer4
//   backbone.0.body   conv1 (7x7/2) -> bn1 -> relu -> maxpool (3x3/2) -> layer1 .. layer4
// (`relu` is `prelu`, an nn.PReLU, with activation rprelu, as the third-party Q-DETR release.)
// Trainable set (BackboneBase): parameters whose names contain none of layer2, layer3, layer4
// (the stem and layer1, including their quantizers' steps) get requires_grad = false, as DETR
// and the Q-DETR release do; the FrozenBatchNorm2d statistics are buffers and never train.
// Mask: the padding mask follows the feature map by nearest interpolation (F.interpolate's
// default mode): feature pixel (i, j) takes the mask of image pixel (floor(i H/h), floor(j W/w)).
// Initialisation: convolutions N(0, 2 / (k k C_out)) (torchvision's kaiming_normal_, fan_out).

#include <lowbit/modules/detection/position_encoding.h>
#include <lowbit/modules/detection/resnet_block.h>

#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/pooling.h>

#include <string>
#include <vector>

namespace lowbit::detection {

struct ResNetBodyOptions {
  ResNetBodyOptions(int64_t depth) : depth_(depth) {}  // NOLINT: implicit, as torch's options
  TORCH_ARG(int64_t, depth);  // 18 (BasicBlock [2,2,2,2]), 50 (Bottleneck [3,4,6,3]) or 101 ([3,4,23,3])
  TORCH_ARG(BackboneActivation, activation) = BackboneActivation::ReLU;
  TORCH_ARG(LayerQuantizers, stem_quantizers);        // conv1
  TORCH_ARG(LayerQuantizers, block_quantizers);       // the residual branches' convolutions
  TORCH_ARG(LayerQuantizers, downsample_quantizers);  // the shortcuts' 1x1 convolutions

 public:
  int64_t out_channels() const { return depth_ == 18 ? 512 : 2048; }
};

class ResNetBodyImpl : public torch::nn::Cloneable<ResNetBodyImpl> {
 public:
  explicit ResNetBodyImpl(ResNetBodyOptions options);
  void reset() override;
  torch::Tensor forward(const torch::Tensor& images);  // [B, 3, H, W] -> layer4 [B, C, H/32, W/32]
  void pretty_print(std::ostream& stream) const override;

  ResNetBodyOptions options;
  layers::QConv2d conv1{nullptr};
  FrozenBatchNorm2d bn1{nullptr};
  torch::nn::AnyModule activation;  // `relu` (ReLU) or `prelu` (PReLU)
  torch::nn::MaxPool2d maxpool{nullptr};
  std::vector<torch::nn::Sequential> stages;  // layer1 .. layer4
};
TORCH_MODULE(ResNetBody);

// A feature map and its padding mask.
struct Features {
  torch::Tensor map;   // [B, C, h, w]
  torch::Tensor mask;  // bool [B, h, w], true on padding
};

class BackboneImpl : public torch::nn::Cloneable<BackboneImpl> {
 public:
  explicit BackboneImpl(ResNetBodyOptions options);
  void reset() override;
  Features forward(const torch::Tensor& images, const torch::Tensor& mask);
  int64_t num_channels() const { return options.out_channels(); }

  ResNetBodyOptions options;
  ResNetBody body{nullptr};
};
TORCH_MODULE(Backbone);

// Features plus their position encoding [B, d, h, w] (in the features' dtype).
struct EncodedFeatures : Features {
  torch::Tensor pos;
};

class JoinerImpl : public torch::nn::Cloneable<JoinerImpl> {
 public:
  JoinerImpl(ResNetBodyOptions body, int64_t hidden);
  void reset() override;
  EncodedFeatures forward(const torch::Tensor& images, const torch::Tensor& mask);

  ResNetBodyOptions body_options;
  int64_t hidden;
  Backbone backbone{nullptr};                  // "0"
  PositionEmbeddingSine position{nullptr};     // "1"
};
TORCH_MODULE(Joiner);

}  // namespace lowbit::detection
