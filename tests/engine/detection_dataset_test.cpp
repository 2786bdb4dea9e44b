#include <lowbit/csrc/engine/datasets/dataset.h>
#include <lowbit/csrc/engine/recipe/recipe.h>
#include <lowbit/csrc/engine/recipe/recipe_error.h>

#include <lowbit/csrc/util/files.h>
#include <lowbit/csrc/util/option_error.h>

#include <gtest/gtest.h>

#include <torch/torch.h>

#include "support/coco_sample.h"
#include "support/temp_dir.h"

namespace data = lowbit::data;
namespace engine = lowbit::engine;
namespace util = lowbit::util;
using lowbit::OptionError;

namespace {

const std::vector<std::string> kDetectionTargetKeys = {"boxes",    "gt_area",   "gt_boxes", "gt_iscrowd",
                                                       "gt_labels", "image_id", "labels",   "orig_size"};

std::vector<std::string> keys_of(const engine::TensorMap& map) {
  std::vector<std::string> keys;
  for (const auto& [key, value] : map) keys.push_back(key);
  return keys;
}

// The sample as both splits, at a small size (longer side at most 160).
engine::DataSpec coco_sample_spec() {
  engine::DataSpec spec;
  spec.dataset = "coco";
  spec.root = lowbit::testing::coco_sample_dir();
  spec.batch_size = 4;
  spec.eval_batch_size = 3;
  spec.limit_train = 8;
  spec.limit_test = 5;
  spec.options = {{"train_images", std::string("val2017")},
                  {"train_annotations", std::string("annotations/instances_val2017.json")},
                  {"max_size", int64_t{160}}};
  return spec;
}

engine::Batch first_batch(engine::DataSource& source, int64_t epoch = 0) {
  auto reader = source.epoch(epoch, 0);
  engine::Batch batch;
  EXPECT_TRUE(reader->next(batch));
  return batch;
}

// The key of the OptionError that `f` throws, or "(no error)".
std::string option_key_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const OptionError& e) {
    return e.key_path();
  }
  return "(no error)";
}

class CocoDataSetOnSample : public lowbit::testing::CocoSampleTest {};

}  // namespace

TEST_F(CocoDataSetOnSample, TestBatchesFollowTheDetectionBatchLayout) {
  const auto data = engine::make_dataset(coco_sample_spec());
  const auto source = data->open(data::Split::Test);
  EXPECT_EQ(source->num_samples(), 5);
  EXPECT_EQ(source->batches_per_epoch(), 2);
  const auto batch = first_batch(*source);
  ASSERT_EQ(batch.size(), 3);
  const auto height = batch.images.size(2), width = batch.images.size(3);
  EXPECT_LE(std::max(height, width), 160);  // eval_max_size follows max_size
  EXPECT_EQ(batch.images.scalar_type(), torch::kFloat);
  EXPECT_FALSE(batch.labels.defined());
  EXPECT_EQ(keys_of(batch.meta), (std::vector<std::string>{"category_ids", "image_sizes", "mask"}));
  EXPECT_EQ(batch.meta.at("mask").sizes(), (std::vector<int64_t>{3, height, width}));
  EXPECT_EQ(batch.meta.at("mask").scalar_type(), torch::kBool);
  EXPECT_EQ(batch.meta.at("image_sizes").sizes(), (std::vector<int64_t>{3, 2}));
  const auto& ids = batch.meta.at("category_ids");
  ASSERT_EQ(ids.sizes(), (std::vector<int64_t>{80}));
  EXPECT_EQ(ids[0].item<int64_t>(), 1);
  EXPECT_EQ(ids[11].item<int64_t>(), 13);
  EXPECT_EQ(ids[79].item<int64_t>(), 90);
  ASSERT_EQ(batch.targets.size(), 3u);
  const auto& first = batch.targets[0];  // image 139, 640 x 426, in id order (no shuffle)
  EXPECT_EQ(keys_of(first), kDetectionTargetKeys);
  EXPECT_EQ(first.at("image_id").item<int64_t>(), 139);
  EXPECT_TRUE(torch::equal(first.at("orig_size"), torch::tensor({426, 640}, torch::kLong)));
  // 640 / 426 * 800 > 160: shorter side round(160 * 426 / 640) = round(106.5) = 106 (half to even),
  // longer int(106 * 640 / 426) = 159
  EXPECT_TRUE(torch::equal(batch.meta.at("image_sizes")[0], torch::tensor({106.f, 159.f})));
  EXPECT_EQ(first.at("boxes").size(1), 4);
  EXPECT_EQ(first.at("gt_boxes").size(0), first.at("gt_labels").size(0));
  const auto mask = batch.meta.at("mask")[0];
  EXPECT_FALSE(mask.narrow(0, 0, 106).narrow(1, 0, 159).any().item<bool>());
  EXPECT_EQ(mask.sum().item<int64_t>(), height * width - 106 * 159);  // the rest is padding
}

TEST_F(CocoDataSetOnSample, TrainBatchesAreShuffledAugmentedAndReproducible) {
  const auto data = engine::make_dataset(coco_sample_spec());
  const auto source = data->open(data::Split::Train);
  EXPECT_EQ(source->num_samples(), 8);
  const auto a = first_batch(*source, 3);
  const auto b = first_batch(*data->open(data::Split::Train), 3);
  ASSERT_EQ(a.size(), 4);
  EXPECT_TRUE(torch::equal(a.images, b.images));
  for (const auto& target : a.targets) {
    EXPECT_EQ(keys_of(target), kDetectionTargetKeys);
    EXPECT_EQ(target.at("boxes").size(0), target.at("labels").size(0));
  }
}

TEST_F(CocoDataSetOnSample, ExampleHasTheBatchLayoutWithoutReadingFiles) {
  auto spec = coco_sample_spec();
  spec.root = "/nonexistent";
  const auto example = engine::make_dataset(spec)->example(2);
  EXPECT_EQ(example.images.sizes(), (std::vector<int64_t>{2, 3, 160, 160}));
  EXPECT_EQ(example.meta.at("category_ids").size(0), 80);
  EXPECT_FALSE(example.meta.at("mask").any().item<bool>());
  ASSERT_EQ(example.targets.size(), 2u);
  EXPECT_EQ(keys_of(example.targets[1]), kDetectionTargetKeys);
}

TEST(DetectionDataSets, OptionErrorsCarryTheirKey) {
  auto spec = coco_sample_spec();
  spec.options["crop"] = c10::IValue(std::vector<int64_t>{600, 384});
  EXPECT_EQ(option_key_of([&] { engine::make_dataset(spec); }), "crop");
  spec = coco_sample_spec();
  spec.root = "";
  EXPECT_EQ(option_key_of([&] { engine::make_dataset(spec); }), "root");
  spec = coco_sample_spec();
  spec.options["scale"] = c10::IValue(std::vector<int64_t>{800});
  EXPECT_EQ(option_key_of([&] { engine::make_dataset(spec); }), "scale");  // unknown: did you mean scales?
  spec = coco_sample_spec();
  spec.dataset = "voc";
  spec.options = {{"train_sets", c10::IValue(std::vector<std::string>{"2007/trainval", "2012"})}};
  EXPECT_EQ(option_key_of([&] { engine::make_dataset(spec); }), "train_sets");
  spec.options = {{"test_sets", c10::IValue(std::vector<int64_t>{2007})}};
  EXPECT_EQ(option_key_of([&] { engine::make_dataset(spec); }), "test_sets");
}

TEST(DetectionDataSets, RecipesGiveListsOfStringsAndEmptyLists) {
  lowbit::testing::TempDir dir;
  const std::string head = "name: r\nmodel: {name: small_cnn}\nstages: [{epochs: 1}]\n";
  dir.write("voc.yaml", head + "data: {dataset: voc, root: /x, train_sets: [2007/trainval, 2012/trainval], crop: []}\n");
  const auto recipe = engine::parse_recipe(dir.file("voc.yaml"));
  const auto& sets = recipe.data.options.at("train_sets");
  ASSERT_TRUE(sets.isList());
  EXPECT_EQ(sets.toListRef().size(), 2u);
  EXPECT_EQ(sets.toListRef()[1].toStringRef(), "2012/trainval");
  dir.write("bad.yaml", head + "data: {dataset: voc, root: /x,\n  test_sets: [2007]}\n");
  try {
    engine::parse_recipe(dir.file("bad.yaml"));
    FAIL() << "a list of integers read as image sets";
  } catch (const engine::RecipeError& e) {
    EXPECT_EQ(e.key(), "data.test_sets");
    EXPECT_NE(std::string(e.what()).find("bad.yaml:5: data.test_sets:"), std::string::npos) << e.what();
  }
}

TEST(DetectionDataSets, UnreadableFilesAreOptionErrorsNamingTheFile) {
  lowbit::testing::TempDir dir;
  auto spec = coco_sample_spec();
  spec.root = dir.path();
  dir.make_dir("val2017");
  const auto data = engine::make_dataset(spec);
  try {
    data->open(data::Split::Test);
    FAIL() << "opened without an annotation file";
  } catch (const OptionError& e) {
    EXPECT_EQ(e.key_path(), "val_annotations");
    EXPECT_NE(e.msg().find(dir.file("annotations/instances_val2017.json")), std::string::npos) << e.msg();
  }
  EXPECT_EQ(option_key_of([&] { data->open(data::Split::Train); }), "train_annotations");
  spec.options["train_images"] = std::string("train2017");  // absent
  EXPECT_EQ(option_key_of([&] { engine::make_dataset(spec)->open(data::Split::Train); }), "train_images");
}

TEST_F(CocoDataSetOnSample, VocBatchesFromADevkitLeaveDifficultOutOfTraining) {
  lowbit::testing::TempDir dir;
  for (const auto* sub : {"VOC2007", "VOC2007/Annotations", "VOC2007/JPEGImages", "VOC2007/ImageSets",
                          "VOC2007/ImageSets/Main"}) {
    dir.make_dir(sub);
  }
  const auto jpeg = util::read_file(lowbit::testing::coco_sample_images() + "/000000000139.jpg");  // 640 x 426
  for (const std::string name : {"000001", "000002"}) {
    dir.write("VOC2007/JPEGImages/" + name + ".jpg", jpeg);
    dir.write("VOC2007/Annotations/" + name + ".xml",
              "<annotation><size><width>640</width><height>426</height></size>"
              "<object><name>dog</name><difficult>0</difficult><bndbox><xmin>11</xmin><ymin>21</ymin>"
              "<xmax>110</xmax><ymax>220</ymax></bndbox></object>"
              "<object><name>cat</name><difficult>1</difficult><bndbox><xmin>1</xmin><ymin>1</ymin>"
              "<xmax>640</xmax><ymax>426</ymax></bndbox></object></annotation>");
  }
  dir.write("VOC2007/ImageSets/Main/test.txt", "000001\n000002\n");
  engine::DataSpec spec;
  spec.dataset = "voc";
  spec.root = dir.path();
  spec.eval_batch_size = 2;
  spec.options = {{"test_sets", c10::IValue(std::vector<std::string>{"2007/test"})}, {"eval_size", int64_t{213}}};
  const auto batch = first_batch(*engine::make_dataset(spec)->open(data::Split::Test));
  ASSERT_EQ(batch.size(), 2);
  EXPECT_TRUE(torch::equal(batch.meta.at("category_ids"), torch::arange(1, 21, torch::kLong)));
  const auto& target = batch.targets[1];
  EXPECT_EQ(target.at("image_id").item<int64_t>(), 1);
  EXPECT_TRUE(torch::equal(target.at("labels"), torch::tensor({11}, torch::kLong)));  // dog; the difficult cat left out
  // (10, 20, 110, 220) in 640 x 426 pixels -> (cx, cy, w, h) / (W, H)
  EXPECT_TRUE(torch::allclose(target.at("boxes"), torch::tensor({60.f / 640, 120.f / 426, 100.f / 640, 200.f / 426}).view({1, 4})));
  EXPECT_TRUE(torch::equal(target.at("gt_boxes"), torch::tensor({10.f, 20.f, 100.f, 200.f, 0.f, 0.f, 640.f, 426.f}).view({2, 4})));
  EXPECT_TRUE(torch::equal(target.at("gt_iscrowd"), torch::tensor({false, true})));
  EXPECT_TRUE(torch::equal(target.at("gt_area"), torch::tensor({20000.f, 640.f * 426.f})));
}

// pipeline: mmdet (csrc/data/mmdet_transforms.h), from a recipe's list of [long, short] scales.
TEST_F(CocoDataSetOnSample, MmdetPipelineRescalesKeepingTheRatioAndPadsToMultiplesOf32) {
  lowbit::testing::TempDir dir;
  const std::string head = "name: r\nmodel: {name: small_cnn}\nstages: [{epochs: 1}]\n";
  const std::string data = "data: {dataset: coco, root: " + lowbit::testing::coco_sample_dir() +
                           ", train_images: val2017, train_annotations: annotations/instances_val2017.json,"
                           " limit_test: 5, eval_batch_size: 3, pipeline: mmdet, ";
  dir.write("mmdet.yaml", head + data + "img_scales: [[200, 120], [160, 96]], test_scale: [200, 120]}\n");
  const auto recipe = engine::parse_recipe(dir.file("mmdet.yaml"));
  const auto source = engine::make_dataset(recipe.data)->open(data::Split::Test);
  const auto batch = first_batch(*source);
  ASSERT_EQ(batch.size(), 3);
  EXPECT_EQ(batch.images.size(2) % 32, 0);
  EXPECT_EQ(batch.images.size(3) % 32, 0);
  // image 139, 426 x 640: factor min(200 / 640, 120 / 426) = 0.2817 -> 120 x 180
  EXPECT_TRUE(torch::equal(batch.meta.at("image_sizes")[0], torch::tensor({120.f, 180.f})));
  const auto largest = std::get<0>(batch.meta.at("image_sizes").max(0));  // padded: the largest, rounded up to 32
  EXPECT_EQ(batch.images.size(2), (largest[0].item<int64_t>() + 31) / 32 * 32);
  EXPECT_EQ(batch.images.size(3), (largest[1].item<int64_t>() + 31) / 32 * 32);
  EXPECT_EQ(batch.meta.at("mask")[0].logical_not().sum().item<int64_t>(), 120 * 180);
  const auto example = engine::make_dataset(recipe.data)->example(1);
  EXPECT_EQ(example.images.sizes(), (std::vector<int64_t>{1, 3, 128, 128}));  // 120, padded to 32

  const auto key_of = [&](const std::string& options) -> std::string {
    dir.write("bad.yaml", head + data + options + "}\n");
    try {
      engine::parse_recipe(dir.file("bad.yaml"));
    } catch (const engine::RecipeError& e) {
      return e.key();
    }
    return "(no error)";
  };
  EXPECT_EQ(key_of("img_scales: [[200]]"), "data.img_scales");
  EXPECT_EQ(key_of("img_scales: [200, 120]"), "data.img_scales");  // not a list of scales
  EXPECT_EQ(key_of("img_scales: [[200, 120], [1.5, 2]]"), "data.img_scales");
  EXPECT_EQ(key_of("test_scale: [0, 120]"), "data.test_scale");
  EXPECT_EQ(key_of("size_divisor: 0"), "data.size_divisor");
  EXPECT_EQ(key_of("max_size: 320"), "data.max_size");  // DETR's option: unknown here
}
