#pragma once
// A classification ResNet of modules/models (resnet18/34/50/101, reactnet_resnet18, ...) as a
// detection backbone: mmdetection v2.0's ResNet (mmdet/models/backbones/resnet.py) and IDa-Det's
// ResNet_REACT (mmdet/models/backbones/resnet_react.py), out_indices (0, 1, 2, 3):
//   children  the model's children up to its last stage under their own names (conv1, bn1,
//             [relu | activation], maxpool, layer1 .. layerN), so that a classification checkpoint
//             (torchvision's, mmdet's backbone.*, or lowbit's own ImageNet run) loads by name; the
//             head (avgpool, flatten, bn2, fc) is dropped
//   forward   images [B, 3, H, W] -> the output of every stage (C2 .. C5: strides 4, 8, 16, 32)
//   channels  each stage's output channels: the filters of its last convolution (the last
//             block's conv2 / conv3 / binary conv; in a one-block stage its shortcut's, the same)
//   frozen_stages = k >= 0: the stem and layer1 .. layer k get requires_grad = false and stay in
//             eval mode (mmdet's _freeze_stages; IDa-Det and mmdet's Faster R-CNN: 1); -1 none
//   norm_eval: every batch norm stays in eval mode while the detector trains (mmdet's default):
//             running statistics are used, never updated; unfrozen affine parameters still train

#include <torch/nn/module.h>
#include <torch/nn/modules/container/any.h>
#include <torch/nn/modules/container/sequential.h>

#include <vector>

namespace lowbit::detection {

struct ResNetFeaturesOptions {
  TORCH_ARG(int64_t, frozen_stages) = 1;
  TORCH_ARG(bool, norm_eval) = true;
};

// A plain Module (not Cloneable): it adopts the modules of a network built elsewhere.
class ResNetFeaturesImpl : public torch::nn::Module {
 public:
  // `net`: a models::make ResNet (children named layer1, layer2, ... after the stem). Throws when
  // it has no child named layer1.
  explicit ResNetFeaturesImpl(const torch::nn::Sequential& net, ResNetFeaturesOptions options = {});
  std::vector<torch::Tensor> forward(const torch::Tensor& images);
  void train(bool on = true) override;
  int64_t stages() const { return static_cast<int64_t>(stages_.size()); }
  const std::vector<int64_t>& channels() const { return channels_; }

  const ResNetFeaturesOptions options;

 private:
  std::vector<torch::nn::AnyModule> stem_, stages_;
  std::vector<std::shared_ptr<torch::nn::Module>> frozen_;
  std::vector<int64_t> channels_;
};
TORCH_MODULE(ResNetFeatures);

}  // namespace lowbit::detection
