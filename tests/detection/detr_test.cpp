// DETR: the outputs' shapes, the official state-dict keys, the registry and its options, the
// padding mask reaching the attention, the label spaces.
#include <lowbit/modules/detection/detr.h>
#include <lowbit/modules/detection/registry.h>

#include "detection/tiny_detr.h"
#include "support/error_of.h"

#include <gtest/gtest.h>

#include <torch/torch.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>

namespace {

using lowbit::Params;
using lowbit::detection::Detector;
using lowbit::testing::error_of;
using lowbit::testing::tiny_batch;
using lowbit::testing::tiny_detr_params;
namespace detection = lowbit::detection;

std::shared_ptr<Detector> make(const Params& params, const lowbit::models::QuantPolicy& policy = {}) {
  return detection::make("detr", params, policy);
}

std::vector<int64_t> sizes(const torch::Tensor& t) { return t.sizes().vec(); }

// "name shape" lines of a key list (comments start with #), shape "AxBxC".
std::map<std::string, std::string> read_key_list(const std::string& path) {
  std::ifstream file(path);
  EXPECT_TRUE(file) << "cannot read " << path;
  std::map<std::string, std::string> keys;
  std::string line;
  while (std::getline(file, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    std::string name, shape;
    fields >> name >> shape;
    keys[name] = shape;
  }
  return keys;
}

std::string shape_text(const torch::Tensor& t) {
  std::string text;
  for (const auto s : t.sizes()) text += (text.empty() ? "" : "x") + std::to_string(s);
  return text;
}

}  // namespace

TEST(Detr, OutputsHaveTheDesignShapes) {
  torch::manual_seed(0);
  auto detr = make(tiny_detr_params());
  const auto batch = tiny_batch(2);
  const auto out = detr->forward(batch.images, batch.mask);
  EXPECT_EQ(sizes(out.at("pred_logits")), (std::vector<int64_t>{2, 5, 8}));
  EXPECT_EQ(sizes(out.at("pred_boxes")), (std::vector<int64_t>{2, 5, 4}));
  EXPECT_EQ(sizes(out.at("aux_logits")), (std::vector<int64_t>{1, 2, 5, 8}));
  EXPECT_EQ(sizes(out.at("aux_boxes")), (std::vector<int64_t>{1, 2, 5, 4}));
  EXPECT_TRUE((out.at("pred_boxes") > 0).all().item<bool>() && (out.at("pred_boxes") < 1).all().item<bool>());
  const auto post = detr->postprocess(out, torch::tensor({{480, 640}, {300, 200}}, torch::kLong));
  EXPECT_EQ(sizes(post.at("boxes")), (std::vector<int64_t>{2, 5, 4}));
  EXPECT_EQ(sizes(post.at("scores")), (std::vector<int64_t>{2, 5}));
  EXPECT_EQ(post.at("labels").scalar_type(), torch::kLong);
  std::vector<std::string> names;
  for (const auto& entry : detr->loss(out, batch.targets)) names.push_back(entry.first);
  EXPECT_EQ(names, (std::vector<std::string>{"loss_ce", "loss_bbox", "loss_giou", "loss_ce_0", "loss_bbox_0", "loss_giou_0"}));
}

TEST(Detr, StateDictHasTheOfficialDetrResnet50Keys) {
  // tests/detection/data/detr_r50_keys.txt: made from facebookresearch/detr's build_model (header).
  const auto official = read_key_list(std::string(LOWBIT_SOURCE_DIR) + "/tests/detection/data/detr_r50_keys.txt");
  ASSERT_EQ(official.size(), 458u);
  auto detr = make({});  // the defaults: detr_resnet50, 91 classes
  std::map<std::string, std::string> ours;
  for (const auto& p : detr->named_parameters()) ours[p.key()] = shape_text(p.value());
  for (const auto& b : detr->named_buffers()) ours[b.key()] = shape_text(b.value());
  for (const auto& [name, shape] : official) {
    const auto it = ours.find(name);
    if (it == ours.end()) {
      ADD_FAILURE() << "missing " << name;
    } else {
      EXPECT_EQ(it->second, shape) << name;
    }
  }
  for (const auto& [name, shape] : ours) EXPECT_TRUE(official.count(name)) << "extra " << name;
}

TEST(Detr, RegistryNamesBothDetectorsAndKeysItsErrors) {
  const auto names = detection::registered_detectors();
  EXPECT_NE(std::find(names.begin(), names.end(), "detr"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "qdetr"), names.end());
  const auto key_of = [](const std::string& name, const Params& params) -> std::string {
    try {
      detection::make(name, params, {});
    } catch (const lowbit::OptionError& e) {
      return e.key_path() + " | " + e.msg();
    }
    return "(no error)";
  };
  EXPECT_NE(key_of("detrr", {}).find("name | unknown detector 'detrr' (did you mean 'detr'?)"), std::string::npos);
  EXPECT_EQ(key_of("detr", tiny_detr_params({{"heads", int64_t{5}}})).rfind("heads | ", 0), 0u);
  EXPECT_EQ(key_of("detr", tiny_detr_params({{"backbone", std::string("resnet51")}})).rfind("backbone | ", 0), 0u);
  EXPECT_EQ(key_of("detr", tiny_detr_params({{"quantize", std::vector<std::string>{"backbon"}}})).rfind("quantize | ", 0), 0u);
  EXPECT_EQ(key_of("detr", tiny_detr_params({{"label_space", std::string("ids")}})).rfind("label_space | ", 0), 0u);
  EXPECT_EQ(key_of("detr", tiny_detr_params({{"eos_coef", -1.0}})).rfind("eos_coef | ", 0), 0u);
  EXPECT_NE(key_of("detr", tiny_detr_params({{"hiden", int64_t{32}}})).find("did you mean 'hidden'"), std::string::npos);
}

TEST(Detr, PaddingIsMaskedInTheTransformer) {
  // An image's own detections do not depend on what fills the padding of its feature map: the
  // transformer with the mask on a padded map equals the transformer on the image alone.
  torch::manual_seed(1);
  detection::Transformer transformer(detection::TransformerOptions(32, 4).encoder_layers(2).decoder_layers(2).dim_feedforward(64));
  detection::PositionEmbeddingSine position(16);
  transformer->eval();
  const auto query = torch::randn({5, 32});
  const auto alone = torch::randn({1, 32, 2, 3});
  auto padded = torch::randn({2, 32, 3, 4}) * 10;  // garbage where image 0 has padding
  using torch::indexing::Slice;
  padded.index_put_({Slice(0, 1), Slice(), Slice(0, 2), Slice(0, 3)}, alone);
  auto mask = torch::zeros({2, 3, 4}, torch::kBool);
  mask.index_put_({0, Slice(2), Slice()}, true);
  mask.index_put_({0, Slice(), Slice(3)}, true);
  const auto alone_mask = torch::zeros({1, 2, 3}, torch::kBool);
  const auto expected = transformer(alone, alone_mask, query, position(alone_mask));
  const auto got = transformer(padded, mask, query, position(mask));
  EXPECT_TRUE(torch::allclose(got.select(1, 0), expected.select(1, 0), 1e-5, 1e-5));
  // Without the mask the padding leaks in.
  const auto unmasked = torch::zeros_like(mask);
  EXPECT_FALSE(torch::allclose(transformer(padded, unmasked, query, position(unmasked)).select(1, 0),
                               expected.select(1, 0), 1e-3, 1e-3));
}

TEST(Detr, MaskReachesTheDetectorsAttention) {
  torch::manual_seed(2);
  auto detr = make(tiny_detr_params());
  detr->eval();
  const auto images = torch::randn({1, 3, 64, 96});
  auto mask = torch::zeros({1, 64, 96}, torch::kBool);
  const auto full = detr->forward(images, mask).at("pred_boxes");
  mask.index_put_({0, torch::indexing::Slice(), torch::indexing::Slice(64)}, true);
  EXPECT_FALSE(torch::allclose(detr->forward(images, mask).at("pred_boxes"), full, 1e-4, 1e-4));
}

TEST(Detr, CategoryIdLabelSpaceMapsLabelsToIds) {
  torch::manual_seed(3);
  auto detr = make(tiny_detr_params({{"label_space", std::string("category_id")}, {"classes", int64_t{10}}}));
  const auto batch = tiny_batch(2);  // labels 0, 1, 2
  const auto out = detr->forward(batch.images, batch.mask);
  EXPECT_NE(error_of([&] { detr->loss(out, batch.targets); }).find("needs the data set's category ids"),
            std::string::npos);
  EXPECT_NE(error_of([&] { detr->set_category_ids(torch::tensor({1, 4, 10}, torch::kLong)); })
                .find("label 2 has category id 10, outside the detector's 10 classes"),
            std::string::npos);
  detr->set_category_ids(torch::tensor({1, 4, 9}, torch::kLong));
  EXPECT_EQ(detr->loss(out, batch.targets).size(), 6u);
  const auto labels = detr->postprocess(out, torch::tensor({{64, 64}, {64, 64}}, torch::kLong)).at("labels");
  EXPECT_TRUE((labels >= 0).all().item<bool>() && (labels < 3).all().item<bool>());
}

TEST(Detr, RejectsLabelsOutsideItsClasses) {
  auto detr = make(tiny_detr_params());  // 7 classes, contiguous
  auto batch = tiny_batch(1);
  const auto out = detr->forward(batch.images, batch.mask);
  batch.targets[0]["labels"] = torch::tensor({7}, torch::kLong);
  EXPECT_NE(error_of([&] { detr->loss(out, batch.targets); }).find("target labels must lie in [0, 7), got [7, 7]"),
            std::string::npos);
}

TEST(Detr, TrainingStepReachesEveryTrainableParameter) {
  torch::manual_seed(4);
  auto detr = make(tiny_detr_params());
  detr->train();
  const auto batch = tiny_batch(2);
  torch::Tensor total = torch::zeros({});
  for (const auto& entry : detr->loss(detr->forward(batch.images, batch.mask), batch.targets)) total = total + entry.second;
  total.backward();
  // Decoder layer 0's self-attention reads tgt = 0 at initialisation (zero in-projection and
  // out-projection biases, as nn.MultiheadAttention's): its values, its output and the LayerNorm
  // after it are constant, so these three get a zero gradient at the first step, in DETR too.
  const std::set<std::string> constant_at_first_step = {"transformer.decoder.layers.0.self_attn.in_proj_weight",
                                                        "transformer.decoder.layers.0.self_attn.out_proj.weight",
                                                        "transformer.decoder.layers.0.norm1.weight"};
  for (const auto& p : detr->named_parameters()) {
    if (!p.value().requires_grad()) continue;
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
    if (constant_at_first_step.count(p.key())) continue;
    EXPECT_GT(p.value().grad().abs().sum().item<double>(), 0.0) << p.key();
  }
}
