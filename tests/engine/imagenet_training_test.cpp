// The trainer on ImageNet-style folders: the real sample (../shared/data/imagenet-sample, one
// JPEG per class) through the threaded JPEG loader, train and eval, a few steps.
#include <lowbit/csrc/engine/recipe/recipe.h>
#include <lowbit/csrc/engine/build.h>
#include <lowbit/csrc/engine/train.h>
#include <lowbit/csrc/util/files.h>

#include "support/imagenet_sample.h"
#include "support/temp_dir.h"

#include <gtest/gtest.h>

#include <sstream>

class ImagenetTraining : public lowbit::testing::ImagenetSampleTest {};

TEST_F(ImagenetTraining, SampleFoldersTrainAndEvaluate) {
  const std::string root = lowbit::testing::imagenet_sample_dir();
  lowbit::testing::TempDir dir;
  dir.write("r.yaml", "name: inet\n"
                      "data: {dataset: imagenet, root: " + root + ", train_folder: images, val_folder: images,\n"
                      "       image_size: 32, batch_size: 16, eval_batch_size: 32, workers: 2,\n"
                      "       limit_train: 48, limit_test: 64}\n"
                      "model: {name: small_cnn, in_channels: 3, classes: 1000, image_size: 32, channels: [8, 16],\n"
                      "        weight_quantizer: {name: xnor}, input_quantizer: {name: sign}}\n"
                      "stages: [{epochs: 1, optimizer: {name: sgd, lr: 0.1}}]\n");
  const auto recipe = lowbit::engine::parse_recipe(dir.file("r.yaml"), {"output=" + dir.path()});
  lowbit::engine::validate(recipe);
  lowbit::util::make_directories(dir.file("run"));
  std::ostringstream log;
  const auto result = lowbit::engine::train(recipe, dir.file("run"), false, log);
  EXPECT_EQ(result.steps, 3);                     // 48 images in batches of 16
  EXPECT_EQ(result.final_eval.samples, 64);
  EXPECT_GE(result.final_eval.value("top5"), 0.0);
  EXPECT_NE(log.str().find("step 3/3"), std::string::npos) << log.str();
}
