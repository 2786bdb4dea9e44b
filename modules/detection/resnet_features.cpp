#include <lowbit/modules/detection/resnet_features.h>

#include <lowbit/modules/layers/batch_norm.h>
#include <lowbit/modules/layers/qconv2d.h>

#include <torch/nn/modules/batchnorm.h>

namespace lowbit::detection {

ResNetFeaturesImpl::ResNetFeaturesImpl(const torch::nn::Sequential& net, ResNetFeaturesOptions options_)
    : options(options_) {
  TORCH_CHECK_VALUE(net, "ResNetFeatures: no network");
  TORCH_CHECK_VALUE(options.frozen_stages() >= -1, "ResNetFeatures: frozen_stages must be >= -1, got ",
                    options.frozen_stages());
  const auto children = net->named_children();
  size_t index = 0;
  for (const auto& module : *net) {
    const auto& name = children[index++].key();
    const bool stage = name == "layer" + std::to_string(stages_.size() + 1);
    if (!stage && !stages_.empty()) break;  // the head
    register_module(name, module.ptr());
    (stage ? stages_ : stem_).push_back(module);
    if (!stage || static_cast<int64_t>(stages_.size()) <= options.frozen_stages()) frozen_.push_back(module.ptr());
  }
  TORCH_CHECK_VALUE(!stages_.empty(), "ResNetFeatures: the network has no child named layer1");
  for (const auto& stage : stages_) {
    int64_t out = 0;
    for (const auto& m : stage.ptr()->modules()) {
      if (const auto* conv = dynamic_cast<const layers::QConv2dImpl*>(m.get())) out = conv->weight.size(0);
    }
    TORCH_CHECK_VALUE(out > 0, "ResNetFeatures: stage ", channels_.size() + 1, " has no convolution");
    channels_.push_back(out);
  }
  TORCH_CHECK_VALUE(options.frozen_stages() <= static_cast<int64_t>(stages_.size()), "ResNetFeatures: frozen_stages ",
                    options.frozen_stages(), " but the network has ", stages_.size(), " stages");
  if (options.frozen_stages() < 0) frozen_.clear();
  for (const auto& module : frozen_) {
    for (auto& p : module->parameters()) p.set_requires_grad(false);
  }
  train(is_training());
}

std::vector<torch::Tensor> ResNetFeaturesImpl::forward(const torch::Tensor& images) {
  TORCH_CHECK(images.dim() == 4, "ResNetFeatures: expected images [B, C, H, W], got ", images.sizes());
  auto x = images;
  for (auto& module : stem_) x = module.forward(x);
  std::vector<torch::Tensor> features;
  for (auto& stage : stages_) features.push_back(x = stage.forward(x));
  return features;
}

void ResNetFeaturesImpl::train(bool on) {
  torch::nn::Module::train(on);
  if (!on) return;
  for (const auto& module : frozen_) module->eval();
  if (!options.norm_eval()) return;
  for (const auto& module : modules(/*include_self=*/false)) {
    if (dynamic_cast<layers::BatchNormImpl*>(module.get()) || dynamic_cast<torch::nn::BatchNorm2dImpl*>(module.get())) {
      module->eval();
    }
  }
}

}  // namespace lowbit::detection
