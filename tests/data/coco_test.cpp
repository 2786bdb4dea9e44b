#include <lowbit/csrc/data/coco.h>

#include <gtest/gtest.h>

#include "support/coco_sample.h"
#include "support/error_of.h"
#include "support/temp_dir.h"

#include <algorithm>

using namespace lowbit::data;
using lowbit::testing::error_of;
using lowbit::testing::TempDir;

namespace {

class CocoOnSample : public lowbit::testing::CocoSampleTest {};

// A COCO file of two images (1.jpg, 2.jpg, both written) and two categories (ids 3 and 7);
// `annotations` and `images` are spliced in as JSON text.
struct SmallCoco {
  TempDir dir;
  std::string file = dir.file("instances.json");

  std::string read(const std::string& annotations,
                   const std::string& images = R"([{"id": 1, "file_name": "1.jpg", "width": 64, "height": 48},
                                                   {"id": 2, "file_name": "2.jpg", "width": 32, "height": 32}])") {
    dir.write("1.jpg", "not decoded here");
    dir.write("2.jpg", "not decoded here");
    dir.write("instances.json", R"({"info": {"year": 2017}, "licenses": [], "images": )" + images +
                                    R"(, "annotations": )" + annotations +
                                    R"(, "categories": [{"id": 7, "name": "cat"}, {"id": 3, "name": "car"}]})");
    return error_of([&] { read_coco(file, dir.path()); });
  }
};

// One valid annotation (index 0, id 5) followed by `second` (index 1).
std::string with_second(const std::string& second) {
  return R"([{"id": 5, "image_id": 1, "category_id": 3, "bbox": [1, 2, 3, 4], "area": 12, "iscrowd": 0}, )" + second +
         "]";
}

}  // namespace

TEST_F(CocoOnSample, ReadsTheSampleAsItsReadmeDescribesIt) {
  const auto set = read_coco(lowbit::testing::coco_sample_annotations(), lowbit::testing::coco_sample_images());
  ASSERT_EQ(set.images.size(), 188u);
  ASSERT_EQ(set.num_classes(), 80);
  EXPECT_EQ(set.categories.front().id, 1);
  EXPECT_EQ(set.categories.front().name, "person");
  EXPECT_EQ(set.categories.back().id, 90);
  size_t annotations = 0, crowd = 0;
  std::vector<int64_t> without;
  for (const auto& image : set.images) {
    annotations += image.annotations.size();
    for (const auto& a : image.annotations) crowd += a.ignore;
    if (image.annotations.empty()) without.push_back(image.id);
  }
  EXPECT_EQ(annotations, 1692u);
  EXPECT_EQ(crowd, 20u);
  EXPECT_EQ(without, (std::vector<int64_t>{58636, 226111}));
  EXPECT_TRUE(std::is_sorted(set.images.begin(), set.images.end(),
                             [](const auto& a, const auto& b) { return a.id < b.id; }));
  const auto& first = set.images.front();
  EXPECT_EQ(first.id, 139);
  EXPECT_EQ(first.width, 640);
  EXPECT_EQ(first.height, 426);
  EXPECT_EQ(first.path, lowbit::testing::coco_sample_images() + "/000000000139.jpg");
}

TEST_F(CocoOnSample, KeepsTheFileOrderAndFieldsOfAnAnnotation) {
  const auto set = read_coco(lowbit::testing::coco_sample_annotations(), lowbit::testing::coco_sample_images());
  // annotations[0]: id 3253, image 22192, bbox [71.57, 120.67, 144.02, 255.26], category 18 (dog),
  // area 22775.39455 (the first of that image's annotations in the file).
  const auto image = std::find_if(set.images.begin(), set.images.end(), [](const auto& i) { return i.id == 22192; });
  ASSERT_NE(image, set.images.end());
  const auto& a = image->annotations.front();
  const std::array<float, 4> box = {71.57f, 120.67f, 144.02f, 255.26f};
  for (size_t k = 0; k < 4; ++k) EXPECT_FLOAT_EQ(a.box[k], box[k]);
  EXPECT_EQ(a.category_id, 18);
  EXPECT_EQ(a.label, 16);  // ids 1..18 without 12
  EXPECT_DOUBLE_EQ(a.area, 22775.394549999994);
  EXPECT_FALSE(a.ignore);
}

TEST_F(CocoOnSample, MapsCategoryIdsToContiguousLabelsAndBack) {
  const auto set = read_coco(lowbit::testing::coco_sample_annotations(), lowbit::testing::coco_sample_images());
  // COCO 2017 skips ids 12, 26, 29, 30, 45, 66, 68, 69, 71 and 83.
  EXPECT_EQ(set.label_of(1), 0);
  EXPECT_EQ(set.label_of(11), 10);
  EXPECT_EQ(set.label_of(13), 11);
  EXPECT_EQ(set.label_of(90), 79);
  EXPECT_EQ(set.category_id(11), 13);
  for (int64_t label = 0; label < set.num_classes(); ++label) EXPECT_EQ(set.label_of(set.category_id(label)), label);
  EXPECT_NE(error_of([&] { set.label_of(12); }).find("unknown category id 12"), std::string::npos);
  EXPECT_THROW(set.category_id(80), c10::Error);
  for (const auto& image : set.images) {
    for (const auto& a : image.annotations) EXPECT_EQ(set.category_id(a.label), a.category_id);
  }
}

TEST(Coco, SortsCategoriesAndKeepsCrowdAndEmptyImages) {
  TempDir dir;
  dir.write("1.jpg", "x");
  dir.write("2.jpg", "x");
  dir.write("c.json", R"({"images": [{"id": 2, "file_name": "2.jpg", "width": 32, "height": 32},
                                     {"id": 1, "file_name": "1.jpg", "width": 64, "height": 48}],
    "annotations": [{"id": 9, "image_id": 1, "category_id": 7, "bbox": [1.5, 2, 3, 4], "area": 10.5, "iscrowd": 1,
                     "segmentation": {"counts": [1, 2, 3], "size": [48, 64]}},
                    {"id": 4, "image_id": 1, "category_id": 3, "bbox": [0, 0, 0, 5], "area": 0,
                     "segmentation": [[1, 2, 3, 4, 5, 6]]}],
    "categories": [{"id": 7, "name": "cat"}, {"id": 3, "name": "car"}]})");
  const auto set = read_coco(dir.file("c.json"), dir.path());
  ASSERT_EQ(set.num_classes(), 2);
  EXPECT_EQ(set.categories[0].name, "car");  // id 3 -> label 0, id 7 -> label 1
  ASSERT_EQ(set.images.size(), 2u);
  EXPECT_EQ(set.images[0].id, 1);
  EXPECT_TRUE(set.images[1].annotations.empty());
  const auto& annotations = set.images[0].annotations;
  ASSERT_EQ(annotations.size(), 2u);
  EXPECT_EQ(annotations[0].label, 1);
  EXPECT_TRUE(annotations[0].ignore);
  EXPECT_EQ(annotations[0].box, (std::array<float, 4>{1.5f, 2, 3, 4}));
  EXPECT_EQ(annotations[1].label, 0);
  EXPECT_FALSE(annotations[1].ignore);  // no iscrowd: 0
}

TEST(CocoErrors, MissingKeyNamesFileEntryAndKey) {
  SmallCoco coco;
  const auto error = coco.read(with_second(R"({"id": 8, "image_id": 1, "category_id": 3, "area": 1})"));
  EXPECT_NE(error.find(coco.file + ": annotations[1] (id 8): missing key \"bbox\""), std::string::npos) << error;
}

TEST(CocoErrors, NegativeWidthNamesFileAndEntry) {
  SmallCoco coco;
  const auto error =
      coco.read(with_second(R"({"id": 8, "image_id": 1, "category_id": 3, "bbox": [1, 2, -3, 4], "area": 1})"));
  EXPECT_NE(error.find(coco.file + ": annotations[1] (id 8): bbox has negative width -3"), std::string::npos) << error;
}

TEST(CocoErrors, WrongTypeNamesFileEntryAndKey) {
  SmallCoco coco;
  const auto error =
      coco.read(with_second(R"({"id": 8, "image_id": "1", "category_id": 3, "bbox": [1, 2, 3, 4], "area": 1})"));
  EXPECT_NE(error.find(coco.file + ": annotations[1] (id 8): \"image_id\" must be an integer, got \"1\""),
            std::string::npos)
      << error;
}

TEST(CocoErrors, UnknownCategoryIdNamesFileAndEntry) {
  SmallCoco coco;
  const auto error =
      coco.read(with_second(R"({"id": 8, "image_id": 1, "category_id": 4, "bbox": [1, 2, 3, 4], "area": 1})"));
  EXPECT_NE(error.find(coco.file + ": annotations[1] (id 8): category_id 4 is not in categories"), std::string::npos)
      << error;
}

TEST(CocoErrors, AnnotationOfMissingImageNamesFileAndEntry) {
  SmallCoco coco;
  const auto error =
      coco.read(with_second(R"({"id": 8, "image_id": 3, "category_id": 3, "bbox": [1, 2, 3, 4], "area": 1})"));
  EXPECT_NE(error.find(coco.file + ": annotations[1] (id 8): image_id 3 is not in images"), std::string::npos) << error;
}

TEST(CocoErrors, EmptyImageListNamesFile) {
  SmallCoco coco;
  const auto error = coco.read("[]", "[]");
  EXPECT_NE(error.find(coco.file + ": \"images\" is empty"), std::string::npos) << error;
}

TEST(CocoErrors, MissingImageFileNamesFileEntryAndPath) {
  SmallCoco coco;
  const auto error = coco.read("[]", R"([{"id": 1, "file_name": "1.jpg", "width": 64, "height": 48},
                                         {"id": 4, "file_name": "4.jpg", "width": 32, "height": 32}])");
  EXPECT_NE(error.find(coco.file + ": images[1] (id 4): " + coco.dir.file("4.jpg") + " does not exist"),
            std::string::npos)
      << error;
}

TEST(CocoErrors, MissingSectionAndMalformedJsonNameTheFile) {
  TempDir dir;
  dir.write("a.json", R"({"images": [], "categories": []})");
  auto error = error_of([&] { read_coco(dir.file("a.json"), dir.path()); });
  EXPECT_NE(error.find(dir.file("a.json") + ": missing key \"annotations\""), std::string::npos) << error;
  dir.write("b.json", R"({"images": [{"id": 1,)");
  error = error_of([&] { read_coco(dir.file("b.json"), dir.path()); });
  EXPECT_NE(error.find(dir.file("b.json") + ": not valid JSON: "), std::string::npos) << error;
  EXPECT_NE(error.find("line 1, column"), std::string::npos) << error;
  dir.write("c.json", R"({"images": {"id": 1}})");
  error = error_of([&] { read_coco(dir.file("c.json"), dir.path()); });
  EXPECT_NE(error.find(dir.file("c.json") + ": \"images\" must be an array"), std::string::npos) << error;
}
