// Reading COCO instances and results files: what is read, and an error naming the file and the
// entry for each kind of bad input (also through `lowbit cocoeval`, which exits with status 2).
#include <lowbit/csrc/eval/coco_json.h>

#include "support/error_of.h"
#include "support/run_cli.h"
#include "support/temp_dir.h"

#include <gtest/gtest.h>



namespace {

using lowbit::testing::error_of;
using lowbit::testing::TempDir;

constexpr char kInstances[] = R"({
  "images": [{"id": 7, "file_name": "a.jpg"}, {"id": 3}],
  "categories": [{"id": 5, "name": "dog"}, {"id": 2, "name": "cat"}],
  "annotations": [
    {"id": 10, "image_id": 7, "category_id": 5, "bbox": [1, 2, 30.5, 40], "area": 1000.25, "iscrowd": 0},
    {"id": 11, "image_id": 3, "category_id": 2, "bbox": [0, 0, 5, 5], "area": 20, "iscrowd": 1, "segmentation": {}}
  ]
})";

// The instances file with `annotation` as a third annotation.
std::string instances_with(const std::string& annotation) {
  std::string text = kInstances;
  text.insert(text.rfind(']'), "," + annotation);
  return text;
}

struct CocoFiles {
  TempDir dir;
  std::string instances(const std::string& text) const {
    dir.write("instances.json", text);
    return dir.file("instances.json");
  }
  std::string results(const std::string& text) const {
    dir.write("results.json", text);
    return dir.file("results.json");
  }
  std::string results_error(const std::string& text) const {
    const auto truth = lowbit::eval::read_coco_ground_truth(instances(kInstances));
    return error_of([&] { lowbit::eval::read_coco_results(results(text), truth); });
  }
  std::string instances_error(const std::string& text) const {
    return error_of([&] { lowbit::eval::read_coco_ground_truth(instances(text)); });
  }
};

}  // namespace

TEST(CocoJson, ReadsImagesCategoriesAnnotationsAndResults) {
  CocoFiles files;
  const auto truth = lowbit::eval::read_coco_ground_truth(files.instances(kInstances));
  EXPECT_EQ(truth.image_ids, (std::vector<int64_t>{7, 3}));
  EXPECT_EQ(truth.category_ids, (std::vector<int64_t>{5, 2}));
  ASSERT_EQ(truth.annotations.size(), 2u);
  const auto& a = truth.annotations[0];
  EXPECT_EQ(a.image_id, 7);
  EXPECT_EQ(a.category_id, 5);
  EXPECT_EQ(a.bbox, (lowbit::eval::CocoBox{1, 2, 30.5, 40}));
  EXPECT_EQ(a.area, 1000.25);
  EXPECT_FALSE(a.iscrowd);
  EXPECT_TRUE(truth.annotations[1].iscrowd);

  const auto results = lowbit::eval::read_coco_results(
      files.results(R"([{"image_id": 3, "category_id": 2, "bbox": [1.5, 2, 3, 4], "score": 0.25, "area": 99},
                       {"image_id": 7, "category_id": 5, "bbox": [0, 0, 0, 0], "score": 1}])"),
      truth);
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0].image_id, 3);
  EXPECT_EQ(results[0].bbox, (lowbit::eval::CocoBox{1.5, 2, 3, 4}));
  EXPECT_EQ(results[0].score, 0.25);
  EXPECT_EQ(results[1].category_id, 5);
  EXPECT_TRUE(lowbit::eval::read_coco_results(files.results("[]"), truth).empty());
}

TEST(CocoJson, ResultErrorsNameTheFileAndEntry) {
  CocoFiles files;
  const auto file = files.dir.file("results.json");
  const std::string good = R"({"image_id": 7, "category_id": 5, "bbox": [0, 0, 1, 1], "score": 0.5})";
  EXPECT_EQ(files.results_error(R"([)" + good + R"(, {"image_id": 7, "category_id": 5, "bbox": [0, 0, 1, 1]}])"),
            file + ": [1] (image_id 7): missing key 'score'");
  EXPECT_EQ(files.results_error(R"([{"image_id": 7, "category_id": 5, "bbox": [0, 0, 1, 1], "score": "high"}])"),
            file + ": [0] (image_id 7): 'score' must be a finite number, got string \"high\"");
  EXPECT_EQ(files.results_error(R"([{"image_id": "7", "category_id": 5, "bbox": [0, 0, 1, 1], "score": 1}])"),
            file + ": [0]: 'image_id' must be an integer, got string \"7\"");
  EXPECT_EQ(files.results_error(R"([{"image_id": 7, "category_id": 5, "bbox": [0, 0, -3, 1], "score": 1}])"),
            file + ": [0] (image_id 7): box of negative width -3");
  EXPECT_EQ(files.results_error(R"([{"image_id": 7, "category_id": 5, "bbox": [0, 0, 1], "score": 1}])"),
            file + ": [0] (image_id 7): 'bbox' must be [x, y, width, height], got array [0,0,1]");
  EXPECT_EQ(files.results_error("[" + good + R"(, {"image_id": 7, "category_id": 91, "bbox": [0, 0, 1, 1], "score": 1}])"),
            file + ": [1] (image_id 7): unknown category_id 91");
  EXPECT_EQ(files.results_error(R"([{"image_id": 8, "category_id": 5, "bbox": [0, 0, 1, 1], "score": 1}])"),
            file + ": [0]: image_id 8 is not an image of the annotations (pycocotools: 'Results do not correspond to "
                   "current coco set')");
  EXPECT_EQ(files.results_error("[" + good + ", 3]"), file + ": [1]: expected an object, got number 3");
  EXPECT_EQ(files.results_error(good), file + ": expected a list of detections [{image_id, category_id, bbox, score}, "
                                              "...], got object {\"bbox\":[0,0,1,1],\"category_id\":5,\"im...");
  EXPECT_NE(files.results_error("[{"), "(no error)");
  EXPECT_EQ(files.results_error("[{").rfind(file + ": not valid JSON (", 0), 0u);
}

TEST(CocoJson, InstancesErrorsNameTheFileAndEntry) {
  CocoFiles files;
  const auto file = files.dir.file("instances.json");
  EXPECT_EQ(files.instances_error(instances_with(
                R"({"id": 42, "image_id": 7, "category_id": 5, "bbox": [0, 0, -3, 4], "area": 1, "iscrowd": 0})")),
            file + ": annotations[2] (id 42): box of negative width -3");
  EXPECT_EQ(files.instances_error(instances_with(
                R"({"id": 42, "image_id": 7, "category_id": 5, "bbox": [0, 0, 3, -4], "area": 1, "iscrowd": 0})")),
            file + ": annotations[2] (id 42): box of negative height -4");
  EXPECT_EQ(files.instances_error(
                instances_with(R"({"id": 42, "image_id": 9, "category_id": 5, "bbox": [0, 0, 3, 4], "area": 1, "iscrowd": 0})")),
            file + ": annotations[2] (id 42): image_id 9 is not in 'images'");
  EXPECT_EQ(files.instances_error(
                instances_with(R"({"id": 42, "image_id": 7, "category_id": 1, "bbox": [0, 0, 3, 4], "area": 1, "iscrowd": 0})")),
            file + ": annotations[2] (id 42): category_id 1 is not in 'categories'");
  EXPECT_EQ(files.instances_error(instances_with(R"({"id": 42, "image_id": 7, "category_id": 5, "bbox": [0, 0, 3, 4], "iscrowd": 0})")),
            file + ": annotations[2] (id 42): missing key 'area'");
  EXPECT_EQ(files.instances_error(
                instances_with(R"({"id": 42, "image_id": 7, "category_id": 5, "bbox": [0, 0, 3, 4], "area": 1, "iscrowd": 2})")),
            file + ": annotations[2] (id 42): 'iscrowd' must be 0, 1 or a boolean, got number 2");
  EXPECT_EQ(files.instances_error(instances_with(R"({"image_id": 7})")), file + ": annotations[2]: missing key 'id'");
  EXPECT_EQ(files.instances_error(R"({"images": [{"id": 1}, {"id": 2}, {"id": 1}], "categories": []})"),
            file + ": images[2]: id 1 is given twice");
  EXPECT_EQ(files.instances_error(R"({"images": [], "categories": {}})"), file + ": 'categories' must be a list, got object {}");
  EXPECT_EQ(files.instances_error(R"({"images": []})"), file + ": missing key 'categories'");
  const auto missing = files.dir.file("absent.json");
  EXPECT_EQ(error_of([&] { lowbit::eval::read_coco_ground_truth(missing); }).rfind(missing + ": cannot open (", 0), 0u);
}

TEST(CocoJson, CliExitsWith2OnBadInput) {
  CocoFiles files;
  const auto instances = files.instances(kInstances);
  const auto results = files.results(R"([{"image_id": 7, "category_id": 91, "bbox": [0, 0, 1, 1], "score": 1}])");
  const auto cli = lowbit::testing::run_cli({"cocoeval", instances, results});
  EXPECT_EQ(cli.status, 2);
  EXPECT_EQ(cli.output, "lowbit: error: " + results + ": [0] (image_id 7): unknown category_id 91\n");
}
