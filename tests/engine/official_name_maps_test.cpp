// The name maps of configs/name_maps/ against the official models' state-dict keys
// (tests/engine/data/official_keys/*.txt, written by official_keys.py from the official model
// classes): zeros of those names and shapes load strictly into lowbit's model of the matching
// recipe, every key used (or dropped by the map) and every parameter and buffer given, but the
// state the map says the official code does not save (`keep`).
#include <lowbit/csrc/engine/build.h>
#include <lowbit/csrc/engine/checkpoint/load_state.h>
#include <lowbit/csrc/engine/recipe/recipe.h>
#include <lowbit/csrc/util/files.h>
#include <lowbit/modules/models/registry.h>

#include <gtest/gtest.h>

#include <torch/torch.h>

#include <sstream>

namespace {

namespace engine = lowbit::engine;

std::string source_file(const std::string& path) { return std::string(LOWBIT_SOURCE_DIR) + "/" + path; }

// Zeros named and shaped as the lines "<key> <d0,d1,...>" of an official key list.
engine::NamedTensors official_zeros(const std::string& name) {
  std::istringstream lines(lowbit::util::read_file(source_file("tests/engine/data/official_keys/" + name + ".txt")));
  engine::NamedTensors tensors;
  for (std::string line; std::getline(lines, line);) {
    const auto space = line.find(' ');
    std::vector<int64_t> shape;
    std::istringstream dims(line.substr(space + 1));
    for (std::string d; std::getline(dims, d, ',');) shape.push_back(std::stoll(d));
    tensors.insert(line.substr(0, space), torch::zeros(shape));
  }
  return tensors;
}

// Loads the official keys through the name map (none: "") strictly; returns the report.
engine::LoadReport load_official(torch::nn::Module& model, const std::string& keys, const std::string& name_map) {
  engine::LoadOptions options;
  if (!name_map.empty()) {
    const auto spec = engine::read_name_map_file(source_file("configs/name_maps/" + name_map));
    std::vector<engine::Rename> rules;
    for (const auto& [pattern, replacement] : spec.rules) rules.push_back({pattern, replacement});
    options.renames(engine::NameMap(rules)).keep(spec.keep).reshape(spec.reshape);
  }
  return engine::load_into(model, official_zeros(keys), options.strict(true).source(keys));
}

// The model of the recipe's last stage: the one a finished run's (released) weights belong to.
std::shared_ptr<engine::Model> last_stage_model(const std::string& recipe_path,
                                                const std::vector<std::string>& overrides = {}) {
  const auto recipe = engine::parse_recipe(source_file(recipe_path), overrides);
  return engine::build_model(recipe, recipe.stages.size() - 1);
}

struct Case {
  std::string keys, name_map, recipe;
  size_t dropped;  // official keys the map leaves out
  size_t kept;     // lowbit state the file does not hold
  std::vector<std::string> overrides = {};
};

void expect_loads(const Case& c) {
  SCOPED_TRACE(c.keys);
  auto model = last_stage_model(c.recipe, c.overrides);
  try {
    const auto report = load_official(*model, c.keys, c.name_map);
    EXPECT_EQ(report.dropped.size(), c.dropped);
    EXPECT_EQ(report.missing.size(), c.kept);
    EXPECT_TRUE(report.unexpected.empty());
  } catch (const c10::Error& e) {
    ADD_FAILURE() << e.msg();
  }
}

}  // namespace

TEST(OfficialNameMaps, ReActNetResNet18) {
  expect_loads({"reactnet_resnet18", "reactnet_resnet.yaml", "recipes/reactnet/imagenet_resnet18.yaml", 0, 0});
}

TEST(OfficialNameMaps, BiRealResNet18And34ViewTheFlatBinaryWeights) {
  expect_loads({"bireal_resnet18", "bireal_resnet.yaml", "recipes/bireal/imagenet_resnet18.yaml", 0, 0});
  expect_loads({"bireal_resnet34", "bireal_resnet.yaml", "recipes/bireal/imagenet_resnet34.yaml", 0, 0});
}

// The recipe's gamma (official_constant) keeps no record of the previous step; with the paper's
// dynamic gamma each of the 16 binary convolutions has three, which the file does not hold.
TEST(OfficialNameMaps, ReBnnResNet18) {
  expect_loads({"rebnn_resnet18", "rebnn_resnet.yaml", "recipes/rebnn/imagenet_resnet18.yaml", 0, 0});
  expect_loads({"rebnn_resnet18", "rebnn_resnet.yaml", "recipes/rebnn/imagenet_resnet18.yaml", 0, 16 * 3,
                {"model.weight_quantizer.gamma_mode=paper_dynamic"}});
}

TEST(OfficialNameMaps, RbonnResNet18) {
  expect_loads({"rbonn_resnet18", "rbonn_resnet.yaml", "recipes/rbonn/imagenet_resnet18.yaml", 0, 16});
}

// Dropped: the unused nonlinear2 (2 parameters) and bn3 (5 tensors); kept: k, t of every binary
// convolution (16 in ResNet-18, 32 in ResNet-34).
TEST(OfficialNameMaps, AdaBinResNet18And34) {
  expect_loads({"adabin_resnet18", "adabin_resnet.yaml", "recipes/adabin/imagenet_resnet18.yaml", 7, 16 * 2});
  expect_loads({"adabin_resnet34", "adabin_resnet.yaml", "recipes/adabin/imagenet_resnet34.yaml", 7, 32 * 2});
}

// lowbit's resnet18 / resnet34 have torchvision's names: its files load without a map (the
// ResNet-34 is ReActNet's, ReBNN's and RBONN's teacher).
TEST(OfficialNameMaps, TorchvisionResNet18And34LoadAsTheyAre) {
  auto resnet18 = lowbit::models::make("resnet18", {}, {});
  EXPECT_NO_THROW(load_official(*resnet18, "torchvision_resnet18", ""));
  const auto recipe = engine::parse_recipe(source_file("recipes/reactnet/imagenet_resnet18.yaml"));
  auto teacher = engine::build_teacher(recipe, *engine::build_task(recipe), engine::Weights::Random);
  EXPECT_NO_THROW(load_official(*teacher, "torchvision_resnet34", ""));
}

// DETR's backbone: fc (2) and every num_batches_tracked (53 in ResNet-50, 104 in ResNet-101) are
// dropped; the transformer and heads are not in the file.
TEST(OfficialNameMaps, TorchvisionResNet50And101AsDetrBackbones) {
  for (const auto& [keys, recipe, batch_norms] : {std::tuple<std::string, std::string, size_t>{
                                                       "torchvision_resnet50", "recipes/detr/coco_r50.yaml", 53},
                                                   {"torchvision_resnet101", "recipes/detr/coco_r101.yaml", 104}}) {
    SCOPED_TRACE(keys);
    auto model = last_stage_model(recipe);
    const auto report = load_official(*model, keys, "torchvision_resnet_detr.yaml");
    EXPECT_EQ(report.dropped.size(), 2 + batch_norms);
    for (const auto& name : report.missing) EXPECT_NE(name.rfind("backbone.0.body.", 0), 0u) << name;
  }
}

// mmdetection v2's Faster R-CNN R101-FPN (IDa-Det's VOC teacher) loads into the teacher recipe's
// model, every key renamed or kept; torchvision's ImageNet ResNet-101 into its backbone (fc dropped).
TEST(OfficialNameMaps, MmdetFasterRcnnAndTorchvisionResNetBackbone) {
  expect_loads({"mmdet_faster_rcnn_r101_voc", "mmdet_faster_rcnn.yaml", "recipes/idadet/voc_r101.yaml", 0, 0});
  auto model = last_stage_model("recipes/idadet/voc_r101.yaml");
  const auto report = load_official(*model, "torchvision_resnet101", "torchvision_resnet_faster_rcnn.yaml");
  EXPECT_EQ(report.dropped.size(), 2u);  // fc
  for (const auto& name : report.missing) EXPECT_NE(name.rfind("backbone.", 0), 0u) << name;
}
