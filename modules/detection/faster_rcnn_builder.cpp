// The registered detectors `faster_rcnn` (mmdetection v2.0's Faster R-CNN + FPN, the teachers and
// the real-valued baselines) and `bi_faster_rcnn` (IDa-Det's 1-bit "BiRes18" student,
// configs/voc_faster_rcnn_bir18.py): one builder, two sets of defaults.
//
//   option                  default (faster_rcnn / bi_faster_rcnn)   meaning
//   backbone                resnet50 / reactnet_resnet18       a ResNet of modules/models: its stages
//   backbone_options        {} / {conv_bias: true}             that model's options (as its recipe keys),
//                                                              over the defaults
//   frozen_stages           1                                  stem and layer1 frozen (resnet_features.h)
//   norm_eval               true                               backbone batch norms in eval mode
//   neck                    fpn / fpn_react_3x3                1x1 laterals, no activation / 3x3 laterals
//                                                              and a PReLU after every conv (fpn.h)
//   neck_channels           256                                FPN width (and the RoI features')
//   rpn_channels            256                                the RPN's 3x3 conv width
//   rpn_activation          relu / prelu
//   classes                 80                                 K (contiguous labels; VOC: 20)
//   loss_weight             1 / 5                              every loss of both stages (IDa-Det: 5)
//   fc_channels             1024                               the box head's two fcs
//   rpn_samples, rpn_positive_fraction     256, 0.5
//   rcnn_samples, rcnn_positive_fraction   512, 0.25
//   rpn_train_proposals     [2000, 1000, 1000]                 nms_pre, nms_post, max_num (rpn_head.h)
//   rpn_test_proposals      [1000, 1000, 1000]
//   rpn_nms_iou             0.7
//   score_thr, nms_iou, max_per_image      0.05, 0.5, 100      test post-processing
//   size_divisor            32                                 the data pipeline's padding (mmdet)
//   quantize                [backbone, neck, rpn]              the parts using the recipe's quantizers
//   neck_input_quantizer    the recipe's input quantizer /     the input quantizer of the neck's and the
//                           {name: sign, ste: approx}          RPN's convolutions
// The backbone takes the recipe's quantizers as that model does (reactnet_resnet18 with weights
// {name: idadet} and inputs {name: rsign}: IDa-Det's BiConv after its LearnableBias move0; stem,
// shortcuts and the dropped fc real under full_precision_ends); the neck and the RPN's 3x3
// convolution take the weight quantizer and neck_input_quantizer (IDa-Det's BiConv: ApproxSign
// of the input, no learnable bias; a per-channel input quantizer would need one width per FPN
// input and is refused). The 1x1 RPN convolutions and the RoI head stay real, as in IDa-Det.
#include <lowbit/modules/detection/faster_rcnn.h>
#include <lowbit/modules/detection/registry.h>
#include <lowbit/modules/models/registry.h>
#include <lowbit/modules/quant/registry.h>

#include <algorithm>

namespace lowbit::detection {
namespace faster_rcnn_builder {  // named: a unity build joins this file with detr_builder.cpp

struct Defaults {
  std::string backbone, neck, rpn_activation;
  Params backbone_options, neck_input_quantizer;
  double loss_weight;
};

const std::vector<std::string> kParts = {"backbone", "neck", "rpn"};

std::set<std::string> read_parts(ParamReader& p) {
  const auto parts = p.get<std::vector<std::string>>("quantize", kParts);
  for (const auto& part : parts) {
    LOWBIT_CHECK_OPTION(std::find(kParts.begin(), kParts.end(), part) != kParts.end(), "quantize",
                        "faster_rcnn: quantize takes backbone, neck and rpn, got '", part, "'");
  }
  return {parts.begin(), parts.end()};
}

ResNetFeatures read_backbone(ParamReader& p, const models::QuantPolicy& policy, const Defaults& d, bool quantized) {
  const auto name = p.get<std::string>("backbone", d.backbone);
  auto options = d.backbone_options;  // the recipe's options over the defaults
  for (auto& [key, value] : p.get<Params>("backbone_options", {})) options[key] = value;
  const auto features = ResNetFeaturesOptions()
                            .frozen_stages(p.get<int64_t>("frozen_stages", 1))
                            .norm_eval(p.get<bool>("norm_eval", true));
  torch::nn::Sequential net{nullptr};
  try {
    net = models::make(name, options, quantized ? policy : models::QuantPolicy{});
  } catch (const OptionError& e) {
    const auto& key = e.key();
    if (!key.empty() && (key.front() == "weight_quantizer" || key.front() == "input_quantizer")) throw;
    if (key == std::vector<std::string>{"name"}) throw OptionError({"backbone"}, e.msg(), e.detail());
    throw e.within("backbone_options");
  }
  int64_t stages = 0;
  for (const auto& child : net->named_children()) stages += child.key() == "layer" + std::to_string(stages + 1);
  LOWBIT_CHECK_OPTION(stages > 0, "backbone", "faster_rcnn: backbone '", name,
                      "' has no stages (children layer1, layer2, ...): use a ResNet");
  LOWBIT_CHECK_OPTION(features.frozen_stages() >= -1 && features.frozen_stages() <= stages, "frozen_stages",
                      "faster_rcnn: frozen_stages must be in [-1, ", stages, "], got ", features.frozen_stages());
  return ResNetFeatures(net, features);
}

// The neck's and RPN's input quantizer spec: neck_input_quantizer, else the recipe's.
models::QuantizerChoice read_neck_input(ParamReader& p, const models::QuantPolicy& policy, const Defaults& d) {
  if (!p.has("neck_input_quantizer") && d.neck_input_quantizer.empty()) return policy.input;
  auto spec = p.get<Params>("neck_input_quantizer", d.neck_input_quantizer);
  const auto name = spec.find("name");
  LOWBIT_CHECK_OPTION(name != spec.end() && name->second.isString(), "neck_input_quantizer",
                      "faster_rcnn: neck_input_quantizer needs a name, e.g. {name: sign, ste: approx}");
  models::QuantizerChoice choice{name->second.toStringRef(), {}};
  spec.erase(name);
  choice.params = std::move(spec);
  LOWBIT_CHECK_OPTION(choice.name.empty() || !quant::takes_channels(choice.name), "neck_input_quantizer",
                      "faster_rcnn: neck_input_quantizer '", choice.name,
                      "' has per-channel state; the neck's inputs differ in width (use e.g. sign)");
  return choice;
}

ProposalOptions read_proposals(ParamReader& p, const std::string& key, std::vector<int64_t> fallback, double iou) {
  const auto v = p.get<std::vector<int64_t>>(key, std::move(fallback));
  LOWBIT_CHECK_OPTION(v.size() == 3 && std::all_of(v.begin(), v.end(), [](int64_t x) { return x > 0; }), key,
                      "faster_rcnn: ", key, " takes [nms_pre, nms_post, max_num], all positive");
  return ProposalOptions().nms_pre(v[0]).nms_post(v[1]).max_num(v[2]).nms_iou(iou);
}

double fraction(ParamReader& p, const std::string& key, double fallback) {
  const auto value = p.get<double>(key, fallback);
  LOWBIT_CHECK_OPTION(value > 0 && value <= 1, key, "faster_rcnn: ", key, " must be in (0, 1], got ", value);
  return value;
}

int64_t positive(ParamReader& p, const std::string& key, int64_t fallback) {
  const auto value = p.get<int64_t>(key, fallback);
  LOWBIT_CHECK_OPTION(value > 0, key, "faster_rcnn: ", key, " must be positive, got ", value);
  return value;
}

RPNHeadOptions read_rpn(ParamReader& p, int64_t in_channels, double loss_weight) {
  const auto nms = fraction(p, "rpn_nms_iou", 0.7);
  return RPNHeadOptions()
      .in_channels(in_channels)
      .sampler(RandomSamplerOptions()
                   .num(positive(p, "rpn_samples", 256))
                   .pos_fraction(fraction(p, "rpn_positive_fraction", 0.5)))
      .loss_weight(loss_weight)
      .train_proposals(read_proposals(p, "rpn_train_proposals", {2000, 1000, 1000}, nms))
      .test_proposals(read_proposals(p, "rpn_test_proposals", {1000, 1000, 1000}, nms));
}

RoIHeadOptions read_roi(ParamReader& p, int64_t classes, int64_t in_channels, double loss_weight) {
  return RoIHeadOptions(classes)
      .in_channels(in_channels)
      .fc_channels(positive(p, "fc_channels", 1024))
      .sampler(RandomSamplerOptions()
                   .num(positive(p, "rcnn_samples", 512))
                   .pos_fraction(fraction(p, "rcnn_positive_fraction", 0.25)))
      .loss_weight(loss_weight)
      .score_thr(p.get<double>("score_thr", 0.05))
      .nms_iou(fraction(p, "nms_iou", 0.5))
      .max_per_image(positive(p, "max_per_image", 100));
}

std::shared_ptr<Detector> build(ParamReader& p, const models::QuantPolicy& policy, const Defaults& d) {
  const auto parts = read_parts(p);
  auto backbone = read_backbone(p, policy, d, parts.count("backbone") > 0);
  const auto neck_channels = positive(p, "neck_channels", 256), rpn_channels = positive(p, "rpn_channels", 256);
  const bool react_neck = p.choice("neck", d.neck, {"fpn", "fpn_react_3x3"}) == 1;
  const auto rpn_activation = p.parsed("rpn_activation", d.rpn_activation, layers::parse_activation);
  const auto classes = positive(p, "classes", 80);
  const auto loss_weight = p.get<double>("loss_weight", d.loss_weight);
  LOWBIT_CHECK_OPTION(loss_weight > 0, "loss_weight", "faster_rcnn: loss_weight must be positive, got ", loss_weight);

  auto neck_policy = policy;
  neck_policy.input = read_neck_input(p, policy, d);
  const auto quantizers = [&](const std::string& part, int64_t out) {
    const bool on = parts.count(part) > 0;
    try {
      return std::make_pair(on ? neck_policy.weight_quantizer(false, out) : quant::Quantizer(nullptr),
                            on ? neck_policy.input_quantizer(false, out) : quant::Quantizer(nullptr));
    } catch (const OptionError& e) {
      if (e.key().empty() || e.key().front() != "input_quantizer" || !p.has("neck_input_quantizer")) throw;
      throw OptionError({"neck_input_quantizer"}, e.msg(), e.detail());
    }
  };
  const auto [neck_weight, neck_input] = quantizers("neck", neck_channels);
  const auto [rpn_weight, rpn_input] = quantizers("rpn", rpn_channels);
  auto neck = FPNOptions(backbone->channels())
                  .out_channels(neck_channels)
                  .lateral_kernel(react_neck ? 3 : 1)
                  .activation(react_neck ? layers::Activation::PReLU : layers::Activation::None)
                  .weight_quantizer(neck_weight)
                  .input_quantizer(neck_input);

  const auto rpn = read_rpn(p, neck_channels, loss_weight)
                       .feat_channels(rpn_channels)
                       .activation(rpn_activation)
                       .weight_quantizer(rpn_weight)
                       .input_quantizer(rpn_input);
  const auto roi = read_roi(p, classes, neck_channels, loss_weight);
  const auto size_divisor = positive(p, "size_divisor", 32);
  return FasterRCNN(std::move(backbone), FasterRCNNOptions(neck, rpn, roi).size_divisor(size_divisor)).ptr();
}

}  // namespace faster_rcnn_builder

LOWBIT_REGISTER_DETECTOR(faster_rcnn, [](ParamReader& p, const models::QuantPolicy& policy) {
  return faster_rcnn_builder::build(p, policy, {"resnet50", "fpn", "relu", {}, {}, 1.0});
});
LOWBIT_REGISTER_DETECTOR(bi_faster_rcnn, [](ParamReader& p, const models::QuantPolicy& policy) {
  return faster_rcnn_builder::build(p, policy, {"reactnet_resnet18", "fpn_react_3x3", "prelu", {{"conv_bias", true}},
                           {{"name", "sign"}, {"ste", "approx"}}, 5.0});
});

}  // namespace lowbit::detection
