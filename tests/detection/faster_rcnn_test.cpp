// Faster R-CNN (modules/detection/faster_rcnn.h) as the registry builds it: the outputs' shapes and
// the unpadded sizes read from the mask, proposals inside each image, the four losses reaching
// every trained part and none of the frozen ones, norm_eval, the post-processing's scaling and
// unused rows, the 1-bit student's quantizers, and the builder's errors.
#include <lowbit/modules/detection/faster_rcnn.h>
#include <lowbit/modules/detection/registry.h>
#include <lowbit/modules/layers/batch_norm.h>
#include <lowbit/modules/layers/binary_residual_unit.h>
#include <lowbit/modules/quant/idadet.h>
#include <lowbit/modules/quant/rsign.h>
#include <lowbit/modules/quant/sign.h>

#include "support/require_gpu.h"

#include <gtest/gtest.h>

#include <torch/torch.h>

#include <map>
#include <string>

namespace faster_rcnn_test {  // named: the unity build joins test files

using lowbit::Params;
using lowbit::detection::FasterRCNNImpl;
using lowbit::detection::NamedTensors;

// A nested option map, as a recipe gives it.
c10::IValue mapping(const Params& params) {
  c10::impl::GenericDict dict(c10::StringType::get(), c10::AnyType::get());
  for (const auto& [key, value] : params) dict.insert(key, value);
  return dict;
}

// A narrow Faster R-CNN on ResNet-18 for 3 classes.
Params small(Params extra = {}) {
  Params p{{"backbone", "resnet18"},        {"neck_channels", int64_t{32}}, {"rpn_channels", int64_t{32}},
           {"fc_channels", int64_t{64}},    {"classes", int64_t{3}},        {"rcnn_samples", int64_t{32}},
           {"rpn_train_proposals", std::vector<int64_t>{200, 100, 100}},
           {"rpn_test_proposals", std::vector<int64_t>{200, 100, 100}}};
  for (auto& [key, value] : extra) p[key] = value;
  return p;
}

std::shared_ptr<FasterRCNNImpl> build_detector(const std::string& name, const Params& params,
                                     const lowbit::models::QuantPolicy& policy = {}) {
  auto detector = std::dynamic_pointer_cast<FasterRCNNImpl>(lowbit::detection::make(name, params, policy));
  EXPECT_TRUE(detector);
  return detector;
}

// Two images padded to 64 x 96: the first 64 x 96, the second 64 x 64 (its last 32 columns padding).
struct Batch {
  torch::Tensor images = torch::randn({2, 3, 64, 96}), mask = torch::zeros({2, 64, 96}, torch::kBool);
  Batch() {
    mask[1].narrow(1, 64, 32).fill_(true);
    images[1].narrow(2, 64, 32).zero_();
  }
};

// One box per image, (cx, cy, w, h) normalised by the image's own size.
std::vector<NamedTensors> targets() {
  return {{{"boxes", torch::tensor({{0.5f, 0.5f, 0.5f, 0.6f}})}, {"labels", torch::tensor({2}, torch::kLong)}},
          {{"boxes", torch::tensor({{0.3f, 0.4f, 0.4f, 0.5f}})}, {"labels", torch::tensor({0}, torch::kLong)}}};
}

TEST(FasterRCNN, OutputsEveryLevelTheUnpaddedSizesAndProposalsInsideEachImage) {
  torch::manual_seed(0);
  auto detector = build_detector("faster_rcnn", small());
  detector->eval();
  Batch b;
  const auto out = detector->forward(b.images, b.mask);
  EXPECT_TRUE(torch::equal(out.at("image_sizes"), torch::tensor({{64, 96}, {64, 64}}, torch::kLong)));
  // Strides 4 .. 32, then P6 = max_pool(kernel 1, stride 2) of P5.
  const std::vector<std::vector<int64_t>> sizes = {{16, 24}, {8, 12}, {4, 6}, {2, 3}, {1, 2}};
  for (int64_t l = 0; l < 5; ++l) {
    const auto level = std::to_string(l);
    const auto& hw = sizes[static_cast<size_t>(l)];
    EXPECT_EQ(out.at("features." + level).sizes(), torch::IntArrayRef({2, 32, hw[0], hw[1]})) << level;
    EXPECT_EQ(out.at("rpn_objectness." + level).sizes(), torch::IntArrayRef({2, 3, hw[0], hw[1]})) << level;
    EXPECT_EQ(out.at("rpn_deltas." + level).sizes(), torch::IntArrayRef({2, 12, hw[0], hw[1]})) << level;
  }
  const auto proposals = out.at("proposals");
  ASSERT_EQ(proposals.dim(), 2);
  ASSERT_EQ(proposals.size(1), 6);
  EXPECT_FALSE(proposals.requires_grad());
  for (int64_t image = 0; image < 2; ++image) {
    const auto mine = proposals.index_select(0, torch::nonzero(proposals.select(1, 0) == image).view(-1));
    ASSERT_GT(mine.size(0), 0) << "image " << image;
    EXPECT_LE(mine.size(0), 100);
    const double width = image == 0 ? 96 : 64;
    EXPECT_LE(mine.select(1, 3).max().item<double>(), width) << "x2 beyond image " << image << "'s width";
    EXPECT_LE(mine.select(1, 4).max().item<double>(), 64.0);
    EXPECT_GE(mine.slice(1, 1, 5).min().item<double>(), 0.0);
    const auto scores = mine.select(1, 5);
    EXPECT_TRUE(torch::equal(scores, std::get<0>(scores.sort(0, /*descending=*/true))));
  }
}

TEST(FasterRCNN, TheNeckTakesTheBackbonesStageWidths) {
  EXPECT_EQ(build_detector("faster_rcnn", small({{"backbone", "resnet50"}}))->neck->options.in_channels(),
            (std::vector<int64_t>{256, 512, 1024, 2048}));
  auto narrow = build_detector(
      "faster_rcnn", small({{"backbone_options", mapping({{"widths", std::vector<int64_t>{16, 32, 48, 64}}})}}));
  EXPECT_EQ(narrow->neck->options.in_channels(), (std::vector<int64_t>{16, 32, 48, 64}));
  narrow->eval();
  Batch b;
  EXPECT_EQ(narrow->forward(b.images, b.mask).at("features.0").sizes(), torch::IntArrayRef({2, 32, 16, 24}));
}

TEST(FasterRCNN, FourLossesReachEveryTrainedPartAndNoFrozenOne) {
  torch::manual_seed(0);
  auto detector = build_detector("faster_rcnn", small());
  detector->train();
  Batch b;
  const auto losses = detector->loss(detector->forward(b.images, b.mask), targets());
  ASSERT_EQ(losses.size(), 4u);
  const std::vector<std::string> names = {"rpn_cls", "rpn_bbox", "cls", "bbox"};
  auto total = torch::zeros({});
  for (size_t i = 0; i < losses.size(); ++i) {
    EXPECT_EQ(losses[i].first, names[i]);
    EXPECT_TRUE(std::isfinite(losses[i].second.item<double>()));
    EXPECT_GT(losses[i].second.item<double>(), 0.0) << names[i];
    total = total + losses[i].second;
  }
  total.backward();
  for (const auto& p : detector->named_parameters()) {
    const auto& name = p.key();
    const bool frozen = name.rfind("backbone.conv1", 0) == 0 || name.rfind("backbone.bn1", 0) == 0 ||
                        name.rfind("backbone.layer1.", 0) == 0;
    EXPECT_EQ(p.value().requires_grad(), !frozen) << name;
    if (frozen) {
      EXPECT_FALSE(p.value().grad().defined()) << name;
    }
  }
  for (const auto* name : {"backbone.layer2.0.conv1.weight", "backbone.layer4.1.bn2.weight", "neck.laterals.0.weight",
                           "neck.outputs.3.weight", "rpn_head.conv.weight", "rpn_head.cls.weight", "rpn_head.reg.weight",
                           "roi_head.fc1.weight", "roi_head.cls.weight", "roi_head.reg.weight"}) {
    const auto& grad = detector->named_parameters()[name].grad();
    ASSERT_TRUE(grad.defined()) << name;
    EXPECT_GT(grad.abs().sum().item<double>(), 0.0) << name;
  }
}

// The real-valued detector and IDa-Det's 1-bit student (a binary ReActNet ResNet-18 backbone).
TEST(FasterRCNN, NormEvalKeepsTheBackbonesRunningStatistics) {
  lowbit::models::QuantPolicy one_bit;
  one_bit.weight = {"idadet", {}};
  one_bit.input = {"rsign", {}};
  for (const bool binary : {false, true}) {
    for (const bool norm_eval : {true, false}) {
      SCOPED_TRACE(std::string(binary ? "1-bit" : "real") + ", norm_eval " + (norm_eval ? "true" : "false"));
      torch::manual_seed(0);
      auto detector =
          binary ? build_detector("bi_faster_rcnn",
                                  small({{"norm_eval", norm_eval}, {"frozen_stages", int64_t{-1}},
                                         {"backbone", "reactnet_resnet18"}}),
                                  one_bit)
                 : build_detector("faster_rcnn", small({{"norm_eval", norm_eval}, {"frozen_stages", int64_t{-1}}}));
      detector->train();
      const std::string bn_name = binary ? "backbone.layer3.0.bn" : "backbone.layer3.0.bn1";
      auto& bn = *detector->named_modules()[bn_name]->as<lowbit::layers::BatchNormImpl>();
      EXPECT_EQ(bn.is_training(), !norm_eval);
      // Every statistic of every backbone batch norm (IDa-Det's norm_eval: methods/idadet.md).
      std::map<std::string, torch::Tensor> before;
      for (const auto& buffer : detector->named_buffers()) {
        if (buffer.key().rfind("backbone.", 0) == 0) before[buffer.key()] = buffer.value().clone();
      }
      ASSERT_FALSE(before.empty());
      Batch b;
      detector->forward(b.images, b.mask);
      int64_t changed = 0;
      for (const auto& buffer : detector->named_buffers()) {
        if (before.count(buffer.key())) changed += !torch::equal(buffer.value(), before.at(buffer.key()));
      }
      if (norm_eval) EXPECT_EQ(changed, 0);
      if (!norm_eval) EXPECT_GT(changed, 0);
      EXPECT_EQ(torch::equal(bn.running_mean, before.at(bn_name + ".running_mean")), norm_eval);
      EXPECT_TRUE(detector->named_modules()["neck"]->is_training());
    }
  }
}

TEST(FasterRCNN, PostprocessScalesTheDetectionsToTheOriginalSizesAndMarksUnusedRows) {
  torch::manual_seed(0);
  auto detector = build_detector("faster_rcnn", small());
  detector->eval();
  Batch b;
  auto out = detector->forward(b.images, b.mask);
  // Image 1 keeps two proposals: at most 6 detections (2 x 3 classes), fewer than image 0's.
  std::vector<torch::Tensor> proposals;
  for (int64_t image = 0; image < 2; ++image) {
    const auto& all = out.at("proposals");
    const auto mine = all.index_select(0, torch::nonzero(all.select(1, 0) == image).view(-1));
    proposals.push_back(image == 0 ? mine : mine.slice(0, 0, 2));
  }
  out["proposals"] = torch::cat(proposals);
  for (auto& p : proposals) p = p.slice(1, 1);
  // The RoI head's own detections, in the resized images' pixels.
  std::vector<torch::Tensor> features;
  for (int64_t l = 0; l < 5; ++l) features.push_back(out.at("features." + std::to_string(l)));
  const auto expected = detector->roi_head->detect(features, proposals, {{64, 96}, {64, 64}});
  const auto result = detector->postprocess(out, torch::tensor({{128, 192}, {32, 32}}, torch::kLong));
  const int64_t rows = result.at("boxes").size(1);
  ASSERT_EQ(rows, std::max(expected[0].boxes.size(0), expected[1].boxes.size(0)));
  ASSERT_GT(rows, expected[1].boxes.size(0));
  const std::vector<double> scale = {2.0, 0.5};
  for (int64_t image = 0; image < 2; ++image) {
    const auto& e = expected[static_cast<size_t>(image)];
    const int64_t n = e.boxes.size(0);
    EXPECT_TRUE(torch::allclose(result.at("boxes")[image].narrow(0, 0, n), e.boxes * scale[image]));
    EXPECT_TRUE(torch::equal(result.at("labels")[image].narrow(0, 0, n), e.labels));
    EXPECT_TRUE(torch::equal(result.at("scores")[image].narrow(0, 0, n), e.scores));
    EXPECT_TRUE((result.at("labels")[image].narrow(0, n, rows - n) == -1).all().item<bool>());
    EXPECT_TRUE((result.at("scores")[image].narrow(0, n, rows - n) == 0).all().item<bool>());
  }
}

TEST(FasterRCNN, TheOneBitStudentQuantizesBackboneNeckAndRpnConvolutionsOnly) {
  lowbit::models::QuantPolicy policy;
  policy.weight = {"idadet", {}};
  policy.input = {"rsign", {}};
  auto detector = build_detector("bi_faster_rcnn", small({{"backbone", "reactnet_resnet18"}}), policy);
  int64_t binary_units = 0;
  for (const auto& m : detector->named_modules()) {
    const auto& name = m.key();
    if (auto* unit = m.value()->as<lowbit::layers::BinaryResidualUnitImpl>()) {
      ++binary_units;
      EXPECT_TRUE(unit->conv->weight_quantizer->as<lowbit::quant::IdaDetImpl>()) << name;
      EXPECT_TRUE(unit->conv->input_quantizer->as<lowbit::quant::RSignImpl>()) << name;
      EXPECT_TRUE(unit->conv->bias.defined()) << name << ": IDa-Det's BiConv has a bias";
    }
    if (auto* conv = m.value()->as<lowbit::layers::QConv2dImpl>()) {
      const bool binary = name.rfind("neck.", 0) == 0 || name == "rpn_head.conv" ||
                          (name.find(".conv") != std::string::npos && name.rfind("backbone.layer", 0) == 0);
      EXPECT_EQ(conv->weight_quantizer->bits() < 32, binary) << name;
      if (name.rfind("neck.", 0) == 0 || name == "rpn_head.conv") {
        EXPECT_TRUE(conv->input_quantizer->as<lowbit::quant::SignImpl>()) << name;
      }
    }
  }
  EXPECT_EQ(binary_units, 16);  // 4 per stage, as ResNet_REACT-18
  EXPECT_EQ(detector->neck->options.in_channels(), (std::vector<int64_t>{64, 128, 256, 512}));
  // The recipe's backbone options add to the defaults (conv_bias stays).
  auto other = build_detector("bi_faster_rcnn", small({{"backbone", "reactnet_resnet18"},
                                             {"backbone_options", mapping({{"init", "fan_out"}})}}), policy);
  EXPECT_TRUE(other->named_parameters().contains("backbone.layer1.0.conv.bias"));
  EXPECT_EQ(detector->neck->options.lateral_kernel(), 3);
  EXPECT_EQ(detector->roi_head->options.loss_weight(), 5.0);
  Batch b;
  detector->train();
  const auto losses = detector->loss(detector->forward(b.images, b.mask), targets());
  auto total = losses[0].second + losses[1].second + losses[2].second + losses[3].second;
  total.backward();
  const auto& grad = detector->named_parameters()["backbone.layer2.0.conv.weight"].grad();
  ASSERT_TRUE(grad.defined());
  EXPECT_GT(grad.abs().sum().item<double>(), 0.0);
}

// The OptionError's key path, or "" when `params` build.
std::string error_key(const std::string& name, const Params& params) {
  try {
    lowbit::detection::make(name, params, {});
  } catch (const lowbit::OptionError& e) {
    return e.key_path();
  }
  return "";
}

TEST(FasterRCNN, BuilderErrorsNameTheOption) {
  EXPECT_EQ(error_key("faster_rcnn", small({{"backbone", "resnet19"}})), "backbone");
  EXPECT_EQ(error_key("faster_rcnn", small({{"backbone", "small_cnn"}})), "backbone");  // no stages
  EXPECT_EQ(error_key("faster_rcnn", small({{"backbone_options", mapping({{"blocks", "two"}})}})), "backbone_options.blocks");
  EXPECT_EQ(error_key("faster_rcnn", small({{"backbone_channels", std::vector<int64_t>{64, 128}}})), "backbone_channels");  // unknown
  EXPECT_EQ(error_key("faster_rcnn", small({{"quantize", std::vector<std::string>{"head"}}})), "quantize");
  EXPECT_EQ(error_key("faster_rcnn", small({{"neck", "bifpn"}})), "neck");
  EXPECT_EQ(error_key("faster_rcnn", small({{"neck_input_quantizer", mapping({{"name", "rsign"}})}})), "neck_input_quantizer");
  EXPECT_EQ(error_key("faster_rcnn", small({{"rpn_train_proposals", std::vector<int64_t>{2000, 1000}}})),
            "rpn_train_proposals");
  EXPECT_EQ(error_key("faster_rcnn", small({{"rcnn_positive_fraction", 1.5}})), "rcnn_positive_fraction");
  EXPECT_EQ(error_key("faster_rcnn", small({{"frozen_stages", int64_t{5}}})), "frozen_stages");
  EXPECT_EQ(error_key("faster_rcnn", small({{"fcs", int64_t{2}}})), "fcs");
  EXPECT_EQ(error_key("faster_rcnn", small()), "");
}

TEST(FasterRCNN, LossRejectsTargetsWithoutBoxes) {
  auto detector = build_detector("faster_rcnn", small());
  Batch b;
  const auto out = detector->forward(b.images, b.mask);
  auto bad = targets();
  bad[1].erase("boxes");
  EXPECT_THROW(detector->loss(out, bad), c10::Error);
  EXPECT_THROW(detector->loss(out, {targets()[0]}), c10::Error);
  EXPECT_THROW(detector->forward(b.images, b.mask.narrow(2, 0, 90)), c10::Error);
}

// COCO's images without annotations stay in the data (docs/detection.md): their anchors and RoIs
// are all negatives, with no box loss from them.
TEST(FasterRCNN, AnImageWithoutObjectsTrainsItsNegativesOnly) {
  torch::manual_seed(0);
  auto detector = build_detector("faster_rcnn", small());
  detector->train();
  Batch b;
  auto t = targets();
  t[1] = {{"boxes", torch::zeros({0, 4})}, {"labels", torch::zeros({0}, torch::kLong)}};
  const auto losses = detector->loss(detector->forward(b.images, b.mask), t);
  auto total = torch::zeros({});
  for (const auto& [name, value] : losses) {
    EXPECT_TRUE(std::isfinite(value.item<double>())) << name;
    total = total + value;
  }
  total.backward();
  EXPECT_GT(detector->roi_head->cls->weight.grad().abs().sum().item<double>(), 0.0);
  const auto none = detector->loss(detector->forward(b.images, b.mask),
                                   {t[1], t[1]});  // no object in the batch: no box loss at all
  EXPECT_EQ(none[1].second.item<double>(), 0.0);
  EXPECT_EQ(none[3].second.item<double>(), 0.0);
}

// On a GPU (run by scripts/gpu-check): the 1-bit detector's outputs and proposals match the CPU's,
// and a training step's losses are finite with gradients in every trained part.
TEST(FasterRCNN, CudaMatchesCpuAndTrains) {
  REQUIRE_GPU();
  lowbit::models::QuantPolicy policy;
  policy.weight = {"idadet", {}};
  policy.input = {"rsign", {}};
  torch::manual_seed(0);
  auto detector = build_detector("bi_faster_rcnn", small({{"backbone", "reactnet_resnet18"}}), policy);
  detector->eval();
  Batch b;
  const auto cpu = detector->forward(b.images, b.mask);
  detector->to(torch::kCUDA);
  const auto gpu = detector->forward(b.images.cuda(), b.mask.cuda());
  for (const auto* name : {"features.0", "features.4", "rpn_objectness.2", "rpn_deltas.1"}) {
    EXPECT_TRUE(torch::allclose(gpu.at(name).cpu(), cpu.at(name), 1e-3, 1e-4)) << name;
  }
  EXPECT_TRUE(torch::equal(gpu.at("image_sizes").cpu(), cpu.at("image_sizes")));
  EXPECT_EQ(gpu.at("proposals").size(0), cpu.at("proposals").size(0));
  const auto detections = detector->postprocess(gpu, torch::tensor({{64, 96}, {64, 64}}, torch::kLong).cuda());
  EXPECT_TRUE(detections.at("boxes").is_cuda());
  detector->train();
  auto t = targets();
  for (auto& target : t) {
    for (auto& [key, value] : target) value = value.cuda();
  }
  const auto losses = detector->loss(detector->forward(b.images.cuda(), b.mask.cuda()), t);
  auto total = torch::zeros({}, torch::kCUDA);
  for (const auto& [name, value] : losses) {
    EXPECT_TRUE(std::isfinite(value.item<double>())) << name;
    total = total + value;
  }
  total.backward();
  for (const auto* name : {"backbone.layer2.0.conv.weight", "neck.laterals.0.weight", "rpn_head.conv.weight",
                           "roi_head.fc1.weight"}) {
    const auto& grad = detector->named_parameters()[name].grad();
    ASSERT_TRUE(grad.defined()) << name;
    EXPECT_GT(grad.abs().sum().item<double>(), 0.0) << name;
  }
}

}  // namespace faster_rcnn_test
