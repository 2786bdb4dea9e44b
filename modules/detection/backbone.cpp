#include <lowbit/modules/detection/backbone.h>

#include <lowbit/modules/detection/detector.h>

#include <torch/torch.h>

namespace lowbit::detection {
namespace {

const std::vector<std::string> kStageNames = {"layer1", "layer2", "layer3", "layer4"};

// Blocks per stage, torchvision's resnet18/50/101.
std::vector<int64_t> blocks_of(int64_t depth) {
  if (depth == 18) return {2, 2, 2, 2};
  if (depth == 50) return {3, 4, 6, 3};
  return {3, 4, 23, 3};
}

// torchvision's _make_layer: the first block of every stage but layer1 has stride 2.
torch::nn::Sequential make_stage(const ResNetBodyOptions& o, size_t stage, int64_t& in_channels) {
  torch::nn::Sequential blocks;
  const int64_t width = int64_t{64} << stage;
  for (int64_t b = 0; b < blocks_of(o.depth())[stage]; ++b) {
    auto block = ResidualBlockOptions(in_channels, width)
                     .stride(stage > 0 && b == 0 ? 2 : 1)
                     .bottleneck(o.depth() != 18)
                     .activation(o.activation())
                     .quantizers(o.block_quantizers())
                     .downsample_quantizers(o.downsample_quantizers());
    in_channels = block.out_channels();
    blocks->push_back(ResidualBlock(block));
  }
  return blocks;
}

}  // namespace

ResNetBodyImpl::ResNetBodyImpl(ResNetBodyOptions options_) : options(std::move(options_)) { reset(); }

void ResNetBodyImpl::reset() {
  const auto& o = options;
  TORCH_CHECK_VALUE(o.depth() == 18 || o.depth() == 50 || o.depth() == 101,
                    "ResNetBody: depth must be 18, 50 or 101, got ", o.depth());
  conv1 = register_module("conv1", layers::QConv2d(layers::QConv2dOptions(3, 64, 7)
                                                       .stride(2)
                                                       .padding(3)
                                                       .bias(false)
                                                       .weight_quantizer(make_quantizer(o.stem_quantizers().weight, 64))
                                                       .input_quantizer(make_quantizer(o.stem_quantizers().input, 3))));
  bn1 = register_module("bn1", FrozenBatchNorm2d(64));
  if (o.activation() == BackboneActivation::ReLU) {
    activation = torch::nn::AnyModule(register_module("relu", torch::nn::ReLU(torch::nn::ReLUOptions().inplace(true))));
  } else {
    activation = torch::nn::AnyModule(register_module("prelu", torch::nn::PReLU(torch::nn::PReLUOptions().num_parameters(64))));
  }
  maxpool = register_module("maxpool", torch::nn::MaxPool2d(torch::nn::MaxPool2dOptions(3).stride(2).padding(1)));
  stages.clear();
  int64_t in_channels = 64;
  for (size_t s = 0; s < kStageNames.size(); ++s) {
    stages.push_back(register_module(kStageNames[s], make_stage(o, s, in_channels)));
  }
  torch::NoGradGuard no_grad;
  for (const auto& m : modules(/*include_self=*/false)) {
    if (auto* conv = dynamic_cast<layers::QConv2dImpl*>(m.get())) {
      torch::nn::init::kaiming_normal_(conv->weight, 0, torch::kFanOut, torch::kReLU);
    }
  }
}

torch::Tensor ResNetBodyImpl::forward(const torch::Tensor& images) {
  auto x = maxpool(activation.forward(bn1(conv1(images))));
  for (auto& stage : stages) x = stage->forward(x);
  return x;
}

void ResNetBodyImpl::pretty_print(std::ostream& stream) const {
  stream << "lowbit::detection::ResNetBody(depth=" << options.depth() << ")";
}

BackboneImpl::BackboneImpl(ResNetBodyOptions options_) : options(std::move(options_)) { reset(); }

void BackboneImpl::reset() {
  body = register_module("body", ResNetBody(options));
  // DETR's BackboneBase: only layer2, layer3 and layer4 train.
  for (auto& p : body->named_parameters()) {
    const auto& name = p.key();
    const bool trained = name.find("layer2") != std::string::npos || name.find("layer3") != std::string::npos ||
                         name.find("layer4") != std::string::npos;
    if (!trained) p.value().set_requires_grad(false);
  }
}

Features BackboneImpl::forward(const torch::Tensor& images, const torch::Tensor& mask) {
  check_images_and_mask(images, mask, "DETR backbone");
  auto map = body(images);
  namespace F = torch::nn::functional;
  const auto small = F::interpolate(mask.unsqueeze(0).to(map.scalar_type()),
                                    F::InterpolateFuncOptions()
                                        .size(std::vector<int64_t>{map.size(2), map.size(3)})
                                        .mode(torch::kNearest))
                         .to(torch::kBool)[0];
  return {map, small};
}

JoinerImpl::JoinerImpl(ResNetBodyOptions body, int64_t hidden_) : body_options(std::move(body)), hidden(hidden_) {
  reset();
}

void JoinerImpl::reset() {
  backbone = register_module("0", Backbone(body_options));
  position = register_module("1", PositionEmbeddingSine(hidden / 2));
}

EncodedFeatures JoinerImpl::forward(const torch::Tensor& images, const torch::Tensor& mask) {
  EncodedFeatures out;
  static_cast<Features&>(out) = backbone(images, mask);
  out.pos = position(out.mask).to(out.map.scalar_type());
  return out;
}

}  // namespace lowbit::detection
