// Bad detection data stops `lowbit train` with exit status 2, one error naming the file and the
// entry, and no run directory: annotation errors when the recipe is validated (before anything
// is written), an undecodable image when the first batch is read (the fresh run's folder is then
// removed, since it holds no checkpoint).
#include <lowbit/csrc/util/files.h>

#include "support/run_cli.h"
#include "support/temp_dir.h"

#include <gtest/gtest.h>

#include <string>

namespace {

using lowbit::testing::TempDir;

// A recipe training a tiny DETR on `dataset` (a data: flow map's other keys) in dir/runs.
std::string write_recipe(const TempDir& dir, const std::string& dataset) {
  dir.write("recipe.yaml", "name: bad\ntask: detection\noutput: " + dir.file("runs") + "\ndata: {" + dataset +
                               ", root: " + dir.path() + ", batch_size: 1, eval_batch_size: 1, max_size: 64, "
                               "scales: [64], crop: [], workers: 1}\n"
                               "model: {name: detr, backbone: resnet18, hidden: 16, heads: 2, ffn: 16, "
                               "enc_layers: 1, dec_layers: 1, queries: 5}\n"
                               "stages: [{epochs: 1}]\n");
  return dir.file("recipe.yaml");
}

// A COCO root: images/1.jpg (with `jpeg` as its bytes) and instances.json with these images and
// annotations (JSON text) and one category, id 3.
std::string coco_recipe(const TempDir& dir, const std::string& images, const std::string& annotations,
                        const std::string& jpeg = "not decoded before training") {
  dir.make_dir("images");
  dir.write("images/1.jpg", jpeg);
  dir.write("instances.json", R"({"images": )" + images + R"(, "annotations": )" + annotations +
                                  R"(, "categories": [{"id": 3, "name": "car"}]})");
  return write_recipe(dir, "dataset: coco, train_images: images, val_images: images, "
                           "train_annotations: instances.json, val_annotations: instances.json");
}

const char* kOneImage = R"([{"id": 1, "file_name": "1.jpg", "width": 64, "height": 48}])";

// Runs `lowbit train recipe`: exit 2, the error names `expected`, no run directory is left.
void expect_bad_input(const TempDir& dir, const std::string& recipe, const std::string& expected) {
  const auto cli = lowbit::testing::run_cli({"train", recipe});
  EXPECT_EQ(cli.status, 2) << cli.output;
  const auto error = cli.output.substr(std::min(cli.output.size(), cli.output.find("lowbit: error: ")));
  EXPECT_NE(error.find(expected), std::string::npos) << cli.output;
  EXPECT_EQ(error.find('\n'), error.size() - 1) << "one line: " << error;
  EXPECT_FALSE(lowbit::util::file_exists(dir.file("runs/bad"))) << "a run directory was left";
}

TEST(DetectionBadInput, MissingKey) {
  TempDir dir;
  const auto recipe = coco_recipe(dir, kOneImage, R"([{"id": 9, "image_id": 1, "category_id": 3, "area": 1}])");
  expect_bad_input(dir, recipe, dir.file("instances.json") + ": annotations[0] (id 9): missing key \"bbox\"");
}

TEST(DetectionBadInput, BoxOfNegativeWidth) {
  TempDir dir;
  const auto recipe = coco_recipe(
      dir, kOneImage, R"([{"id": 9, "image_id": 1, "category_id": 3, "bbox": [1, 2, -3, 4], "area": 1}])");
  expect_bad_input(dir, recipe, dir.file("instances.json") + ": annotations[0] (id 9): bbox has negative width -3");
}

TEST(DetectionBadInput, UnknownCategoryId) {
  TempDir dir;
  const auto recipe = coco_recipe(
      dir, kOneImage, R"([{"id": 9, "image_id": 1, "category_id": 4, "bbox": [1, 2, 3, 4], "area": 1}])");
  expect_bad_input(dir, recipe, dir.file("instances.json") + ": annotations[0] (id 9): category_id 4 is not in categories");
}

TEST(DetectionBadInput, AnnotationOfAMissingImage) {
  TempDir dir;
  const auto recipe = coco_recipe(
      dir, kOneImage, R"([{"id": 9, "image_id": 2, "category_id": 3, "bbox": [1, 2, 3, 4], "area": 1}])");
  expect_bad_input(dir, recipe, dir.file("instances.json") + ": annotations[0] (id 9): image_id 2 is not in images");
}

TEST(DetectionBadInput, EmptyImageList) {
  TempDir dir;
  const auto recipe = coco_recipe(dir, "[]", "[]");
  expect_bad_input(dir, recipe, dir.file("instances.json") + ": \"images\" is empty");
}

TEST(DetectionBadInput, UndecodableJpeg) {
  TempDir dir;
  const auto recipe = coco_recipe(
      dir, kOneImage, R"([{"id": 9, "image_id": 1, "category_id": 3, "bbox": [1, 2, 3, 4], "area": 12}])");
  expect_bad_input(dir, recipe, dir.file("images/1.jpg") + ": not a JPEG file");
}

TEST(DetectionBadInput, VocObjectWithoutBndbox) {
  TempDir dir;
  for (const auto* sub : {"VOC2007", "VOC2007/Annotations", "VOC2007/JPEGImages", "VOC2007/ImageSets",
                          "VOC2007/ImageSets/Main"}) {
    dir.make_dir(sub);
  }
  dir.write("VOC2007/Annotations/000001.xml",
            "<annotation><filename>000001.jpg</filename><size><width>64</width><height>48</height><depth>3</depth>"
            "</size><object><name>dog</name><difficult>0</difficult></object></annotation>");
  dir.write("VOC2007/JPEGImages/000001.jpg", "not decoded before training");
  for (const auto* set : {"trainval", "test"}) dir.write(std::string("VOC2007/ImageSets/Main/") + set + ".txt", "000001\n");
  const auto recipe = write_recipe(dir, "dataset: voc, train_sets: [2007/trainval], test_sets: [2007/test]");
  expect_bad_input(dir, recipe, dir.file("VOC2007/Annotations/000001.xml") + ": object 0 ('dog'): no <bndbox>");
}

}  // namespace
