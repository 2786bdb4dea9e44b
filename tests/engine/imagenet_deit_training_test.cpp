// DeiT's data pipeline end to end on the real ImageNet sample (../shared/data/imagenet-sample, one
// JPEG per class): configs/data/imagenet_deit.yaml at 32 x 32 (bicubic crops, RandAugment, random
// erasing, repeated augmentation x3, mixup / cutmix soft targets), its batches as the trainer gets
// them, and a short training run on them.
#include <lowbit/csrc/engine/build.h>
#include <lowbit/csrc/engine/datasets/dataset.h>
#include <lowbit/csrc/engine/recipe/recipe.h>
#include <lowbit/csrc/engine/train.h>
#include <lowbit/csrc/util/files.h>

#include "support/imagenet_sample.h"
#include "support/temp_dir.h"

#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <cmath>
#include <sstream>

namespace {

class ImagenetDeitTraining : public lowbit::testing::ImagenetSampleTest {
 protected:
  // The DeiT data config on the sample: 256 training images (RA keeps floor(256 / 256) * 256
  // positions: 85 images three times and one once), batches of 32.
  lowbit::engine::Recipe recipe() {
    dir_.write("r.yaml", "include: [" + std::string(LOWBIT_SOURCE_DIR) + "/configs/data/imagenet_deit.yaml]\n"
                         "name: deit_sample\n"
                         "data: {root: " + lowbit::testing::imagenet_sample_dir() + ", train_folder: images,\n"
                         "       val_folder: images, image_size: 32, batch_size: 32, eval_batch_size: 64,\n"
                         "       workers: 2, limit_train: 256, limit_test: 64}\n"
                         "model: {name: small_cnn, in_channels: 3, classes: 1000, image_size: 32, channels: [8, 16]}\n"
                         "stages: [{epochs: 1, optimizer: {name: adamw, lr: 0.001}}]\n");
    return lowbit::engine::parse_recipe(dir_.file("r.yaml"), {"output=" + dir_.path()});
  }

  lowbit::testing::TempDir dir_;
};

}  // namespace

TEST_F(ImagenetDeitTraining, BatchesAreRepeatedMixedAndSoftLabelled) {
  const auto r = recipe();
  auto source = lowbit::engine::make_dataset(r.data)->open(lowbit::data::Split::Train);
  EXPECT_EQ(source->batches_per_epoch(), 8);
  lowbit::engine::Batch batch;
  ASSERT_TRUE(source->epoch(0, 0)->next(batch));
  ASSERT_EQ(batch.images.sizes(), (std::vector<int64_t>{32, 3, 32, 32}));
  ASSERT_EQ(batch.soft_labels.sizes(), (std::vector<int64_t>{32, 1000}));
  const auto labels = batch.labels;
  for (int64_t i = 0; i + 2 < 30; i += 3) {  // one image per class: equal labels, the same image
    EXPECT_EQ(labels[i].item<int64_t>(), labels[i + 1].item<int64_t>());
    EXPECT_EQ(labels[i].item<int64_t>(), labels[i + 2].item<int64_t>());
  }
  EXPECT_TRUE(at::allclose(batch.soft_labels.sum(1), at::ones({32}), 0, 1e-5));
  for (int64_t i = 0; i < 32; ++i) {  // image i is mixed with image 31 - i, smoothed by 0.1
    const auto own = labels[i].item<int64_t>(), partner = labels[31 - i].item<int64_t>();
    const double mass = batch.soft_labels[i][own].item<double>() + (own == partner ? 0.0 : batch.soft_labels[i][partner].item<double>());
    EXPECT_NEAR(mass, own == partner ? 0.9 + 0.1 / 1000 : 0.9 + 0.2 / 1000, 1e-5) << i;
  }
  EXPECT_FALSE(std::isnan(batch.images.sum().item<double>()));
  lowbit::engine::Batch eval_batch;
  ASSERT_TRUE(lowbit::engine::make_dataset(r.data)->open(lowbit::data::Split::Test)->epoch(0, 0)->next(eval_batch));
  EXPECT_FALSE(eval_batch.soft_labels.defined());
}

TEST_F(ImagenetDeitTraining, TrainsOnSoftTargetsEndToEnd) {
  const auto r = recipe();
  lowbit::engine::validate(r);
  lowbit::util::make_directories(dir_.file("run"));
  std::ostringstream log;
  const auto result = lowbit::engine::train(r, dir_.file("run"), false, log);
  EXPECT_EQ(result.steps, 8);
  EXPECT_EQ(result.final_eval.samples, 64);
  EXPECT_TRUE(std::isfinite(result.final_eval.value("loss")));
  EXPECT_NE(log.str().find("step 8/8"), std::string::npos) << log.str();
}
