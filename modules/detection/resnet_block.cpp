#include <lowbit/modules/detection/resnet_block.h>

#include <lowbit/csrc/util/suggest.h>

#include <torch/torch.h>

namespace lowbit::detection {

BackboneActivation parse_backbone_activation(const std::string& name) {
  const std::vector<std::string> names = {"relu", "rprelu"};
  return static_cast<BackboneActivation>(util::choose("backbone activation", name, names));
}

namespace {

struct ConvShape {
  int64_t in, out, kernel, stride;
};

// torchvision: BasicBlock conv3x3(s) -> conv3x3; Bottleneck conv1x1 -> conv3x3(s) -> conv1x1.
std::vector<ConvShape> branch(const ResidualBlockOptions& o) {
  const int64_t w = o.width();
  if (!o.bottleneck()) return {{o.in_channels(), w, 3, o.stride()}, {w, w, 3, 1}};
  return {{o.in_channels(), w, 1, 1}, {w, w, 3, o.stride()}, {w, o.out_channels(), 1, 1}};
}

}  // namespace

ResidualBlockImpl::ResidualBlockImpl(ResidualBlockOptions options_) : options(std::move(options_)) { reset(); }

void ResidualBlockImpl::reset() {
  const auto& o = options;
  TORCH_CHECK_VALUE(o.in_channels() > 0 && o.width() > 0 && o.stride() > 0, "ResidualBlock(", o.in_channels(), "->",
                    o.out_channels(), ", stride ", o.stride(), "): channels and stride must be positive");
  const bool rprelu = o.activation() == BackboneActivation::RPReLU;
  convs.clear();
  norms.clear();
  rprelus.clear();
  const auto shapes = branch(o);
  for (size_t i = 0; i < shapes.size(); ++i) {
    const auto& s = shapes[i];
    const auto index = std::to_string(i + 1);
    if (rprelu) rprelus.push_back(register_module("rprelu" + index, layers::RPReLU(s.in)));
    convs.push_back(register_module(
        "conv" + index, layers::QConv2d(layers::QConv2dOptions(s.in, s.out, s.kernel)
                                            .stride(s.stride)
                                            .padding(s.kernel / 2)
                                            .bias(false)
                                            .weight_quantizer(make_quantizer(o.quantizers().weight, s.out))
                                            .input_quantizer(make_quantizer(o.quantizers().input, s.in)))));
    norms.push_back(register_module("bn" + index, FrozenBatchNorm2d(s.out)));
  }
  if (rprelu) {
    rprelus.push_back(register_module("rprelu_out", layers::RPReLU(o.out_channels())));
  } else {
    relu = register_module("relu", torch::nn::ReLU(torch::nn::ReLUOptions().inplace(true)));
  }
  downsample = nullptr;
  if (o.stride() != 1 || o.in_channels() != o.out_channels()) {
    const auto& q = o.downsample_quantizers();
    downsample = register_module(
        "downsample", torch::nn::Sequential(layers::QConv2d(layers::QConv2dOptions(o.in_channels(), o.out_channels(), 1)
                                                                .stride(o.stride())
                                                                .bias(false)
                                                                .weight_quantizer(make_quantizer(q.weight, o.out_channels()))
                                                                .input_quantizer(make_quantizer(q.input, o.in_channels()))),
                                            FrozenBatchNorm2d(o.out_channels())));
  }
}

// The activation in front of convolution `index` (index == convs.size(): after the sum).
torch::Tensor ResidualBlockImpl::activate(size_t index, const torch::Tensor& x) {
  if (!rprelus.empty()) return rprelus[index](x);
  return index == 0 ? x : relu(x);
}

torch::Tensor ResidualBlockImpl::forward(const torch::Tensor& x) {
  auto out = x;
  for (size_t i = 0; i < convs.size(); ++i) out = norms[i](convs[i](activate(i, out)));
  return activate(convs.size(), out + (downsample ? downsample->forward(x) : x));
}

void ResidualBlockImpl::pretty_print(std::ostream& stream) const {
  stream << "lowbit::detection::ResidualBlock(" << options.in_channels() << "->" << options.out_channels()
         << ", stride=" << options.stride() << (options.bottleneck() ? ", bottleneck" : "") << ")";
}

}  // namespace lowbit::detection
