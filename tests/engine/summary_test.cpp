// `lowbit summary`: per-layer accounting, with the layers nested in residual blocks counted.
#include <lowbit/csrc/engine/summary.h>
#include <lowbit/modules/detection/registry.h>
#include <lowbit/modules/models/registry.h>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <sstream>

namespace {

lowbit::models::QuantPolicy binary_policy() {
  lowbit::models::QuantPolicy policy;
  policy.weight = {"xnor", {{"scale_grad", std::string("detached")}}};
  policy.input = {"sign", {{"ste", std::string("approx")}}};
  return policy;
}

const lowbit::engine::LayerSummary& row(const lowbit::engine::ModelSummary& s, const std::string& name) {
  for (const auto& layer : s.layers) {
    if (layer.name == name) return layer;
  }
  throw std::runtime_error("no row " + name);
}

}  // namespace

TEST(Summary, BiRealResNet18CountsTheBinaryConvsInsideItsBlocks) {
  auto model = lowbit::models::make("bireal_resnet18", {}, binary_policy());
  const auto s = lowbit::engine::summarize(model, torch::zeros({1, 3, 224, 224}));
  // 16 binary 3×3 convolutions: H·W·C_out·C_in·9 = 56·56·64·64·9 for every full-width one, half
  // that for the first of stages 2-4 (C_in = C_out/2): Bi-Real Net's 1.68e9 BOPs.
  const int64_t full = 56 * 56 * 64 * 64 * 9;
  EXPECT_EQ(s.total.binary_macs, 4 * full + 3 * (full / 2 + 3 * full));
  EXPECT_EQ(s.total.binary_macs, 1676279808);
  // Real-valued: the 7×7 stem, three 1×1 downsample convolutions, fc (Bi-Real Net's 1.39e8 FLOPs).
  EXPECT_EQ(s.total.other_macs, 112 * 112 * 64 * 147 + 3 * (28 * 28 * 128 * 64) + 512 * 1000);
  const auto& unit = row(s, "layer1.0.conv");
  EXPECT_TRUE(unit.detail);
  EXPECT_EQ(unit.weight_bits, 1);
  EXPECT_EQ(unit.input_bits, 1);
  EXPECT_EQ(unit.binary_macs, full);
  const auto& shortcut = row(s, "layer2.0.downsample.1");
  EXPECT_EQ(shortcut.weight_bits, 32);
  EXPECT_EQ(shortcut.other_macs, 28 * 28 * 128 * 64);
  // A stage: its binary weights packed to bits, its BatchNorms at 4 bytes.
  const auto& layer1 = row(s, "layer1");
  EXPECT_FALSE(layer1.detail);
  EXPECT_EQ(layer1.binary_macs, 4 * full);
  EXPECT_EQ(layer1.params, 4 * (64 * 64 * 9 + 2 * 64));
  EXPECT_EQ(layer1.packed_bytes, 4 * (64 * 64 * 9 / 8 + 2 * 64 * 4));
  // Totals count every parameter once.
  int64_t params = 0;
  for (const auto& p : model->parameters()) params += p.numel();
  EXPECT_EQ(s.total.params, params);
  std::ostringstream out;
  lowbit::engine::print_summary(s, out);
  EXPECT_NE(out.str().find("\n  layer2.0.downsample.1 "), std::string::npos) << out.str();
}

TEST(Summary, FlatModelsKeepOneRowPerLayer) {
  auto model = lowbit::models::make("small_cnn", {{"channels", std::vector<int64_t>{8, 16}}}, binary_policy());
  const auto s = lowbit::engine::summarize(model, torch::zeros({1, 1, 28, 28}));
  ASSERT_EQ(s.layers.size(), model->size());
  EXPECT_EQ(s.layers[0].name, "0");
  EXPECT_EQ(s.layers[4].binary_macs, 14 * 14 * 16 * 8 * 9);
  EXPECT_EQ(s.layers[0].other_macs, 28 * 28 * 8 * 9);
}

TEST(Summary, QuantizerStateIsListedApartFromTheModelsSize) {
  lowbit::models::QuantPolicy policy;
  policy.weight = {"lsq", {{"bits", 4}}};
  policy.input = {"lsq", {{"bits", 4}}};
  auto model = lowbit::models::make("small_cnn", {{"channels", std::vector<int64_t>{8, 16, 32}}}, policy);
  const auto s = lowbit::engine::summarize(model, torch::zeros({1, 1, 28, 28}));
  int64_t quantized = 0;
  for (size_t i = 0; i < s.layers.size(); ++i) {
    const auto& layer = s.layers[i];
    if (layer.weight_bits != 4) continue;
    ++quantized;
    const auto weight = model[i]->named_parameters()["weight"].numel();
    EXPECT_EQ(layer.quantizer_bytes, 2 * 4) << layer.name;  // one weight step, one input step
    EXPECT_EQ(layer.fp32_bytes, (layer.params - 2) * 4) << layer.name;
    EXPECT_EQ(layer.packed_bytes, (weight * 4 + 7) / 8 + (layer.params - weight - 2) * 4) << layer.name;
  }
  EXPECT_EQ(quantized, 2);  // the middle convolutions: the first and last layers stay real-valued
  int64_t quantizer_params = 0;
  for (const auto& p : model->named_parameters()) {
    if (p.key().find("quantizer.") != std::string::npos) quantizer_params += p.value().numel();
  }
  EXPECT_EQ(s.total.quantizer_bytes, quantizer_params * 4);
  std::ostringstream out;
  lowbit::engine::print_summary(s, out);
  EXPECT_NE(out.str().find("MB quantizer state"), std::string::npos) << out.str();
}

// A detector: one row per part, its layers as details; the RPN conv shared by the 5 FPN levels is
// counted at every level, the box head for every proposal of the image.
TEST(Summary, OneBitFasterRcnnCountsEveryPartTheSharedRpnConvPerLevelAndTheBoxHeadPerProposal) {
  lowbit::models::QuantPolicy policy;
  policy.weight = {"idadet", {}};
  policy.input = {"rsign", {}};
  const lowbit::Params options{{"neck_channels", int64_t{32}}, {"rpn_channels", int64_t{32}},
                               {"fc_channels", int64_t{64}},   {"classes", int64_t{3}}};
  auto detector = lowbit::detection::make("bi_faster_rcnn", options, policy);
  const auto images = torch::randn({1, 3, 64, 64});
  const auto mask = torch::zeros({1, 64, 64}, torch::kBool);
  int64_t proposals = 0;
  const auto s = lowbit::engine::summarize(*detector, [&] {
    const auto out = detector->forward(images, mask);
    proposals = out.at("proposals").size(0);
    detector->postprocess(out, torch::tensor({{64, 64}}, torch::kLong));
  });
  std::vector<std::string> parts;
  for (const auto& layer : s.layers) {
    if (!layer.detail) parts.push_back(layer.name);
  }
  EXPECT_EQ(parts, (std::vector<std::string>{"backbone", "neck", "rpn_head", "roi_head"}));
  // Binary 3x3 32 -> 32 on the 16², 8², 4², 2², 1² levels.
  EXPECT_EQ(row(s, "rpn_head.conv").binary_macs, (256 + 64 + 16 + 4 + 1) * 32 * 32 * 9);
  EXPECT_EQ(row(s, "rpn_head.cls").other_macs, (256 + 64 + 16 + 4 + 1) * 3 * 32);
  EXPECT_EQ(row(s, "neck.laterals.0").binary_macs, 16 * 16 * 32 * 64 * 9);  // 3x3 BiConv lateral on C2
  ASSERT_GT(proposals, 0);
  EXPECT_EQ(row(s, "roi_head.fc1").other_macs, proposals * 32 * 7 * 7 * 64);
  EXPECT_EQ(row(s, "roi_head").binary_macs, 0);
  EXPECT_EQ(row(s, "backbone.conv1").weight_bits, 32);  // the stem stays real
  EXPECT_EQ(row(s, "backbone.layer2.1.conv").binary_macs, 8 * 8 * 128 * 128 * 9);
  EXPECT_EQ(s.total.binary_macs, row(s, "backbone").binary_macs + row(s, "neck").binary_macs +
                                     row(s, "rpn_head").binary_macs);
  std::ostringstream printed;
  lowbit::engine::print_summary(s, printed);
  EXPECT_NE(printed.str().find("OPs (BOPs/64 + FLOPs) per image: "), std::string::npos);
}
