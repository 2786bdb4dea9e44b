// Detection trains end to end through `lowbit train`'s engine (recipe, COCO reader, DETR's
// pipeline, loop, checkpoint, COCO metric): a reduced DETR (ResNet-18, 2 + 2 layers of width 64,
// 10 queries, longer side 320, no augmentation) overfits 8 images of ../shared/data/coco-sample
// (the first by id with one or two annotations, none crowd, each of area >= 64^2), and so does a
// W4A4 Q-DETR student of the same shape trained against that DETR with DRD. Both from scratch
// (no ImageNet backbone), at lr 1e-3 (backbone 1e-4); the student's quantizer steps and zero
// points at 1e-4 without weight decay. The loss is the step's (one step per epoch); AP50 comes
// from the final evaluation on the same images.
//
// The student's teacher is the DETR test's checkpoint (ctest runs that test first: the
// FIXTURES in tests/CMakeLists.txt); run alone, the student test trains it first.
#include <lowbit/csrc/engine/recipe/recipe.h>
#include <lowbit/csrc/engine/train.h>
#include <lowbit/csrc/util/files.h>

#include "support/coco_sample.h"
#include "support/run_cli.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <map>
#include <sstream>

namespace {

namespace engine = lowbit::engine;
using lowbit::util::join_path;

const std::string kWork = LOWBIT_TEST_WORK_DIR "/detection_training";

// The 8 images and their annotations, as an instances file in kWork.
std::string write_eight_images() {
  const auto all = nlohmann::json::parse(lowbit::util::read_file(lowbit::testing::coco_sample_annotations()));
  std::map<int64_t, std::vector<nlohmann::json>> by_image;
  for (const auto& a : all["annotations"]) by_image[a["image_id"].get<int64_t>()].push_back(a);
  nlohmann::json out{{"images", nlohmann::json::array()}, {"annotations", nlohmann::json::array()},
                     {"categories", all["categories"]}};
  for (const auto& [id, annotations] : by_image) {  // by image id
    bool fits = annotations.size() <= 2;
    for (const auto& a : annotations) fits = fits && a["iscrowd"].get<int>() == 0 && a["area"].get<double>() >= 4096;
    if (!fits) continue;
    for (const auto& image : all["images"]) {
      if (image["id"].get<int64_t>() == id) out["images"].push_back(image);
    }
    for (const auto& a : annotations) out["annotations"].push_back(a);
    if (out["images"].size() == 8) break;
  }
  EXPECT_EQ(out["images"].size(), 8u);
  lowbit::util::make_directories(kWork);
  const auto path = join_path(kWork, "eight.json");
  lowbit::util::replace_file(path, out.dump());
  return path;
}

// The reduced DETR's options, for a YAML flow map.
const std::string kReducedDetr =
    "backbone: resnet18, enc_layers: 2, dec_layers: 2, hidden: 64, heads: 4, ffn: 128, queries: 10, dropout: 0";

std::string recipe_text(const std::string& name, const std::string& annotations, int64_t steps,
                        const std::string& model_and_more, const std::string& groups) {
  std::ostringstream r;
  r << "name: " << name << "\ntask: detection\nseed: 0\noutput: " << kWork << "\n"
    << "data: {dataset: coco, root: " << kWork << ", train_images: " << lowbit::testing::coco_sample_images()
    << ", train_annotations: " << annotations << ", val_images: " << lowbit::testing::coco_sample_images()
    << ", val_annotations: " << annotations << ", scales: [320], max_size: 320, crop: [], flip: 0, eval_size: 320,"
    << " batch_size: 8, eval_batch_size: 8, workers: 2}\n"
    << model_and_more << "stages:\n  - {name: train, epochs: " << steps
    << ", grad_clip: 0.1, optimizer: {name: adamw, lr: 0.001, weight_decay: 0.0001, groups: [" << groups
    << "{pattern: '^backbone\\.', lr_scale: 0.1}]}}\n"
    << "train: {log_every: 10, eval_every: " << steps << "}\n";
  return r.str();
}

struct Run {
  std::vector<nlohmann::json> steps;  // the train records, one per step
  engine::TrainResult result;
  std::string dir;
};

Run train(const std::string& name, const std::string& text) {
  const auto file = join_path(kWork, name + ".yaml");
  lowbit::util::replace_file(file, text);
  Run run;
  run.dir = join_path(kWork, name);
  lowbit::util::remove_tree(run.dir);
  lowbit::util::make_directories(run.dir);
  const auto recipe = engine::parse_recipe(file);
  engine::validate(recipe);
  std::ostringstream progress;
  run.result = engine::train(recipe, run.dir, false, progress);
  std::istringstream log(lowbit::util::read_file(join_path(run.dir, "metrics.jsonl")));
  for (std::string line; std::getline(log, line);) {
    auto record = nlohmann::json::parse(line);
    if (record["kind"] == "train") run.steps.push_back(std::move(record));
  }
  return run;
}

double final_value(const Run& run, const std::string& name) {
  for (const auto& [key, value] : run.result.final_eval.values) {
    if (key == name) return value;
  }
  ADD_FAILURE() << "no " << name << " in the final evaluation";
  return 0;
}

Run train_detr(const std::string& annotations) {
  return train("detr_eight", recipe_text("detr_eight", annotations, 100,
                                         "model: {name: detr, " + kReducedDetr + "}\n", ""));
}

class DetectionTraining : public lowbit::testing::CocoSampleTest {};

TEST_F(DetectionTraining, ReducedDetrOverfitsEightCocoImages) {
  const auto run = train_detr(write_eight_images());
  ASSERT_EQ(run.steps.size(), 100u);
  const double first = run.steps.front()["loss"], last = run.steps.back()["loss"];
  const double ap50 = final_value(run, "AP50");
  std::cout << "detr: loss " << first << " -> " << last << " (" << first / last << "x), AP50 " << ap50 << ", AP "
            << final_value(run, "AP") << ", " << run.result.seconds << " s\n";
  EXPECT_GE(first / last, 5.0);
  EXPECT_GT(ap50, 0.5);
  // metrics.jsonl has the 12 numbers of the evaluation; `lowbit eval` prints them as pycocotools.
  const auto log = lowbit::util::read_file(join_path(run.dir, "metrics.jsonl"));
  EXPECT_NE(log.find("\"kind\":\"eval\",\"epoch\":99,\"step\":100,\"AP\":"), std::string::npos);
  const auto cli = lowbit::testing::run_cli(
      {"eval", join_path(kWork, "detr_eight.yaml"), "--checkpoint", join_path(run.dir, "checkpoint.pt")});
  EXPECT_EQ(cli.status, 0) << cli.output;
  EXPECT_NE(cli.output.find("test (8 images):\n Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = "),
            std::string::npos)
      << cli.output;
  EXPECT_NE(cli.output.find(" Average Recall     (AR) @[ IoU=0.50:0.95 | area= large | maxDets=100 ] = "),
            std::string::npos)
      << cli.output;
}

TEST_F(DetectionTraining, W4A4QDetrStudentLearnsWithItsDrdTermLogged) {
  const auto annotations = write_eight_images();
  const auto teacher = join_path(join_path(kWork, "detr_eight"), "checkpoint.pt");
  if (!lowbit::util::file_exists(teacher)) train_detr(annotations);
  const auto model = "model: {name: qdetr, " + kReducedDetr +
                     ", weight_quantizer: {name: lsq, bits: 4, per_channel: true, init_per_channel: false},"
                     " input_quantizer: {name: qvit_act, bits: 4}}\n"
                     "teacher: {model: {name: detr, " + kReducedDetr + "}, checkpoint: " + teacher + "}\n"
                     "distill: {terms: [{loss: model}, {loss: drd, tau: 0.5, weight: 1.0}]}\n";
  const auto run = train("qdetr_eight", recipe_text("qdetr_eight", annotations, 100, model,
                                                     "{pattern: '(step|alpha|zero_point)$', lr_scale: 0.1, weight_decay: 0}, "));
  ASSERT_EQ(run.steps.size(), 100u);
  const auto& first = run.steps.front();
  const auto& last = run.steps.back();
  const double ap50 = final_value(run, "AP50");
  std::cout << "qdetr w4a4: loss " << first["loss"] << " -> " << last["loss"] << ", detector's loss "
            << first["loss_model"] << " -> " << last["loss_model"] << ", drd " << first["loss_drd"] << " -> "
            << last["loss_drd"] << ", AP50 " << ap50 << ", AP " << final_value(run, "AP") << ", "
            << run.result.seconds << " s\n";
  // The DRD term is logged every step, and it moves the student towards the teacher.
  for (const auto& step : run.steps) ASSERT_TRUE(step.contains("loss_drd"));
  EXPECT_GT(first["loss_drd"].get<double>(), 0.0);
  EXPECT_LT(last["loss_drd"].get<double>(), first["loss_drd"].get<double>());
  EXPECT_GE(first["loss"].get<double>() / last["loss"].get<double>(), 5.0);
  EXPECT_GT(ap50, 0.5);
}

}  // namespace
