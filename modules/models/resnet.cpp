// ResNet builders. Every model is a torch::nn::Sequential of named children:
//   stem   conv1 (7×7 s2, or 3×3 s1 with small_input) → bn1 → [relu | activation] → [maxpool]
//   body   layer1 .. layerN, each a Sequential of blocks; the first block of every stage but the
//          first has stride 2
//   head   avgpool (adaptive, 1×1) → flatten → [bn2, BatchNorm] → fc
// The policy's quantizers go to the 3×3 convolutions of the blocks; the stem convolution, the
// shortcut's 1×1 convolution and fc are its "ends", which full_precision_ends keeps real-valued.
//
// resnet18, resnet34: torchvision's (layers/basic_block.h, blocks [2,2,2,2] / [3,4,6,3]), with
//   torchvision's state-dict names, so its weights load by name (the teachers of ReActNet & co.).
// resnet50, resnet101: torchvision's (layers/bottleneck.h, blocks [3,4,6,3] / [3,4,23,3]; a stage
//   outputs 4 × its width), likewise (the detection teachers of IDa-Det).
// bireal_resnet18/34, reactnet_resnet18/34, adabin_resnet18/34, adabin_resnet20: one binary
//   convolution per real shortcut (layers/binary_residual_unit.h); `blocks` counts these units,
//   two per BasicBlock of the papers: [4,4,4,4] for -18, [6,8,12,6] for -34, [6,6,6] for -20.
//   bireal   : no activation, avgpool_conv shortcut (Bi-Real Net; policy: sign + xnor detached)
//   reactnet : RPReLU after every unit (ReActNet; policy: rsign + xnor detached)
//   adabin   : Maxout after the stem and every unit, BatchNorm before fc (AdaBin ImageNet
//              ResNet-18/34; policy: adabin_act + adabin)
//   adabin_resnet20: AdaBin's CIFAR-10 ResNet-20, widths [16,32,64], small_input, zero_pad
//              (option A) shortcut, 10 classes.
//
// Options: blocks, widths (one per stage; the stem has widths[0] channels), small_input
// (3×3 stride-1 stem and no maxpool, for 28×28 / 32×32 images), in_channels (3), classes
// (1000; adabin_resnet20 10), init; binary builders also activation, stem_activation,
// shortcut, head_bn, conv_bias (a bias on the units' 3×3 convolutions, as IDa-Det's BiConv; false).
// Defaults follow each official code base.
// init: the official initialisations (models/initialisation.h).
// The head pools adaptively where AdaBin's ImageNet code has AvgPool2d(7): equal at 224×224,
// and the same builder serves other sizes.
#include <lowbit/csrc/util/suggest.h>
#include <lowbit/modules/layers/basic_block.h>
#include <lowbit/modules/layers/batch_norm.h>
#include <lowbit/modules/layers/binary_residual_unit.h>
#include <lowbit/modules/layers/bottleneck.h>
#include <lowbit/modules/layers/qlinear.h>
#include <lowbit/modules/layers/stage.h>
#include <lowbit/modules/models/initialisation.h>
#include <lowbit/modules/models/registry.h>

#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/pooling.h>

#include <algorithm>

namespace lowbit::models {
namespace {

struct Layout {
  std::vector<int64_t> blocks, widths = {64, 128, 256, 512};
  bool small_input = false;
  int64_t in_channels = 3, classes = 1000;
  Init init = Init::FanOut;
  int64_t expansion = 1;  // a stage's output channels per unit of width (bottleneck: 4)
};

struct BinaryFamily {
  layers::Activation activation = layers::Activation::None, stem_activation = layers::Activation::None;
  layers::Shortcut shortcut = layers::Shortcut::AvgPoolConv;
  bool head_bn = false, conv_bias = false;
};

Layout read_layout(ParamReader& p, const std::string& model, Layout d) {
  d.blocks = p.get("blocks", d.blocks);
  d.widths = p.get("widths", d.widths);
  d.small_input = p.get("small_input", d.small_input);
  d.in_channels = p.get("in_channels", d.in_channels);
  d.classes = p.get("classes", d.classes);
  d.init = static_cast<Init>(p.choice("init", init_names().at(static_cast<size_t>(d.init)), init_names()));
  LOWBIT_CHECK_OPTION(!d.widths.empty() && d.widths.size() == d.blocks.size(), "widths", "model '", model,
                      "': blocks and widths need one entry per stage, got ", d.blocks.size(), " and ", d.widths.size());
  const auto positive = [](const std::vector<int64_t>& v) {
    return std::all_of(v.begin(), v.end(), [](int64_t x) { return x > 0; });
  };
  LOWBIT_CHECK_OPTION(positive(d.blocks), "blocks", "model '", model, "': blocks must be positive, got ",
                      c10::IntArrayRef(d.blocks));
  LOWBIT_CHECK_OPTION(positive(d.widths), "widths", "model '", model, "': widths must be positive, got ",
                      c10::IntArrayRef(d.widths));
  LOWBIT_CHECK_OPTION(d.in_channels > 0, "in_channels", "model '", model, "': needs in_channels > 0, got ", d.in_channels);
  LOWBIT_CHECK_OPTION(d.classes > 1, "classes", "model '", model, "': needs classes > 1, got ", d.classes);
  return d;
}

BinaryFamily read_family(ParamReader& p, BinaryFamily d) {
  const auto activation = [&](const char* key, layers::Activation fallback) {
    return p.parsed(key, layers::to_string(fallback), layers::parse_activation);
  };
  d.activation = activation("activation", d.activation);
  d.stem_activation = activation("stem_activation", d.stem_activation);
  d.shortcut = p.parsed("shortcut", layers::to_string(d.shortcut), layers::parse_shortcut);
  d.head_bn = p.get("head_bn", d.head_bn);
  d.conv_bias = p.get("conv_bias", d.conv_bias);
  return d;
}

// conv1 → bn1 → the stem's activation (may be empty) → maxpool unless small_input.
void add_stem(torch::nn::Sequential& net, const Layout& l, const QuantPolicy& policy, const std::string& act_name,
              torch::nn::AnyModule act) {
  const int64_t width = l.widths[0];
  auto conv = l.small_input ? layers::QConv2dOptions(l.in_channels, width, 3).padding(1)
                            : layers::QConv2dOptions(l.in_channels, width, 7).stride(2).padding(3);
  net->push_back("conv1", layers::QConv2d(conv.bias(false)
                                              .weight_quantizer(policy.weight_quantizer(true, width))
                                              .input_quantizer(policy.input_quantizer(true, l.in_channels))));
  net->push_back("bn1", layers::BatchNorm(width));
  if (!act.is_empty()) net->push_back(act_name, std::move(act));
  if (!l.small_input) {
    net->push_back("maxpool", torch::nn::MaxPool2d(torch::nn::MaxPool2dOptions(3).stride(2).padding(1)));
  }
}

void add_head(torch::nn::Sequential& net, const Layout& l, const QuantPolicy& policy, bool head_bn) {
  const int64_t features = l.widths.back() * l.expansion;
  net->push_back("avgpool", torch::nn::AdaptiveAvgPool2d(1));
  net->push_back("flatten", torch::nn::Flatten());
  if (head_bn) net->push_back("bn2", layers::BatchNorm(features));
  net->push_back("fc", layers::QLinear(layers::QLinearOptions(features, l.classes)
                                           .weight_quantizer(policy.weight_quantizer(true, l.classes))
                                           .input_quantizer(policy.input_quantizer(true, features))));
}

// Calls add(stage, in_channels, width, stride) for every block, stage by stage; a block outputs
// width × expansion channels.
template <typename AddBlock>
void add_stages(torch::nn::Sequential& net, const Layout& l, AddBlock add) {
  int64_t in = l.widths[0];
  for (size_t stage = 0; stage < l.blocks.size(); ++stage) {
    layers::Stage blocks;
    for (int64_t b = 0; b < l.blocks[stage]; ++b) {
      add(blocks, in, l.widths[stage], stage > 0 && b == 0 ? 2 : 1);
      in = l.widths[stage] * l.expansion;
    }
    net->push_back("layer" + std::to_string(stage + 1), blocks);
  }
}

torch::nn::Sequential torchvision_resnet(ParamReader& p, const QuantPolicy& policy, const std::string& model,
                                         std::vector<int64_t> blocks) {
  Layout defaults;
  defaults.blocks = std::move(blocks);
  const auto l = read_layout(p, model, defaults);
  torch::nn::Sequential net;
  add_stem(net, l, policy, "relu", torch::nn::AnyModule(torch::nn::ReLU(torch::nn::ReLUOptions().inplace(true))));
  add_stages(net, l, [&](layers::Stage& stage, int64_t in, int64_t out, int64_t stride) {
    stage->push_back(layers::BasicBlock(layers::BasicBlockOptions(in, out)
                                            .stride(stride)
                                            .weight_quantizer(policy.weight_quantizer(false, out))
                                            .input_quantizer(policy.input_quantizer(false, in))
                                            .conv2_input_quantizer(policy.input_quantizer(false, out))
                                            .shortcut_weight_quantizer(policy.weight_quantizer(true, out))
                                            .shortcut_input_quantizer(policy.input_quantizer(true, in))));
  });
  add_head(net, l, policy, false);
  initialise(*net, l.init);
  return net;
}

torch::nn::Sequential torchvision_bottleneck_resnet(ParamReader& p, const QuantPolicy& policy, const std::string& model,
                                                    std::vector<int64_t> blocks) {
  Layout defaults;
  defaults.blocks = std::move(blocks);
  defaults.expansion = 4;
  const auto l = read_layout(p, model, defaults);
  torch::nn::Sequential net;
  add_stem(net, l, policy, "relu", torch::nn::AnyModule(torch::nn::ReLU(torch::nn::ReLUOptions().inplace(true))));
  add_stages(net, l, [&](layers::Stage& stage, int64_t in, int64_t width, int64_t stride) {
    stage->push_back(layers::Bottleneck(layers::BottleneckOptions(in, width)
                                            .stride(stride)
                                            .weight_quantizer(policy.weight_quantizer(false, width))
                                            .conv3_weight_quantizer(policy.weight_quantizer(false, 4 * width))
                                            .input_quantizer(policy.input_quantizer(false, in))
                                            .inner_input_quantizer(policy.input_quantizer(false, width))
                                            .shortcut_weight_quantizer(policy.weight_quantizer(true, 4 * width))
                                            .shortcut_input_quantizer(policy.input_quantizer(true, in))));
  });
  add_head(net, l, policy, false);
  initialise(*net, l.init);
  return net;
}

torch::nn::Sequential binary_resnet(ParamReader& p, const QuantPolicy& policy, const std::string& model,
                                    const Layout& layout_defaults, const BinaryFamily& family_defaults) {
  const auto l = read_layout(p, model, layout_defaults);
  const auto f = read_family(p, family_defaults);
  torch::nn::Sequential net;
  add_stem(net, l, policy, "activation", layers::make_activation(f.stem_activation, l.widths[0]));
  add_stages(net, l, [&](layers::Stage& stage, int64_t in, int64_t out, int64_t stride) {
    stage->push_back(layers::BinaryResidualUnit(layers::BinaryResidualUnitOptions(in, out)
                                                    .stride(stride)
                                                    .shortcut(f.shortcut)
                                                    .activation(f.activation)
                                                    .conv_bias(f.conv_bias)
                                                    .weight_quantizer(policy.weight_quantizer(false, out))
                                                    .input_quantizer(policy.input_quantizer(false, in))
                                                    .shortcut_weight_quantizer(policy.weight_quantizer(true, out))
                                                    .shortcut_input_quantizer(policy.input_quantizer(true, in))));
  });
  add_head(net, l, policy, f.head_bn);
  initialise(*net, l.init);
  return net;
}

Layout imagenet_units(std::vector<int64_t> blocks, Init init) {
  Layout l;
  l.blocks = std::move(blocks);
  l.init = init;
  return l;
}

const std::vector<int64_t> kResNet18Units = {4, 4, 4, 4}, kResNet34Units = {6, 8, 12, 6};

BinaryFamily bireal() { return {}; }

BinaryFamily reactnet() {
  BinaryFamily f;
  f.activation = layers::Activation::RPReLU;
  return f;
}

BinaryFamily adabin(layers::Shortcut shortcut) {
  BinaryFamily f;
  f.activation = f.stem_activation = layers::Activation::Maxout;
  f.shortcut = shortcut;
  f.head_bn = true;
  return f;
}

Layout adabin_cifar20() {
  Layout l;
  l.blocks = {6, 6, 6};
  l.widths = {16, 32, 64};
  l.small_input = true;
  l.classes = 10;
  l.init = Init::FanIn;
  return l;
}

Factory torchvision(const std::string& name, const std::vector<int64_t>& blocks) {
  return [=](ParamReader& p, const QuantPolicy& policy) { return torchvision_resnet(p, policy, name, blocks); };
}

Factory bottleneck(const std::string& name, const std::vector<int64_t>& blocks) {
  return [=](ParamReader& p, const QuantPolicy& policy) { return torchvision_bottleneck_resnet(p, policy, name, blocks); };
}

Factory binary(const std::string& name, const Layout& layout, const BinaryFamily& family) {
  return [=](ParamReader& p, const QuantPolicy& policy) { return binary_resnet(p, policy, name, layout, family); };
}

}  // namespace

LOWBIT_REGISTER_MODEL(resnet18, torchvision("resnet18", {2, 2, 2, 2}));
LOWBIT_REGISTER_MODEL(resnet34, torchvision("resnet34", {3, 4, 6, 3}));
LOWBIT_REGISTER_MODEL(resnet50, bottleneck("resnet50", {3, 4, 6, 3}));
LOWBIT_REGISTER_MODEL(resnet101, bottleneck("resnet101", {3, 4, 23, 3}));
LOWBIT_REGISTER_MODEL(bireal_resnet18, binary("bireal_resnet18", imagenet_units(kResNet18Units, Init::ReActNet), bireal()));
LOWBIT_REGISTER_MODEL(bireal_resnet34, binary("bireal_resnet34", imagenet_units(kResNet34Units, Init::ReActNet), bireal()));
LOWBIT_REGISTER_MODEL(reactnet_resnet18,
                      binary("reactnet_resnet18", imagenet_units(kResNet18Units, Init::ReActNet), reactnet()));
LOWBIT_REGISTER_MODEL(reactnet_resnet34,
                      binary("reactnet_resnet34", imagenet_units(kResNet34Units, Init::ReActNet), reactnet()));
LOWBIT_REGISTER_MODEL(adabin_resnet18, binary("adabin_resnet18", imagenet_units(kResNet18Units, Init::FanOut),
                                              adabin(layers::Shortcut::AvgPoolConv)));
LOWBIT_REGISTER_MODEL(adabin_resnet34, binary("adabin_resnet34", imagenet_units(kResNet34Units, Init::FanOut),
                                              adabin(layers::Shortcut::AvgPoolConv)));
LOWBIT_REGISTER_MODEL(adabin_resnet20, binary("adabin_resnet20", adabin_cifar20(), adabin(layers::Shortcut::ZeroPad)));

}  // namespace lowbit::models
