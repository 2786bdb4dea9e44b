// The imagenet data set's augmentation keys (datasets/transform_config.h) as a recipe writes them:
// the two shipped data configs read into the pipelines they name, absent keys give ReActNet's
// pipeline, `mixup: null` takes out an included mixup, and unknown keys or bad values are
// errors at their recipe key.
#include <lowbit/csrc/engine/datasets/transform_config.h>
#include <lowbit/csrc/engine/recipe/recipe.h>
#include <lowbit/csrc/engine/recipe/recipe_error.h>

#include "support/temp_dir.h"

#include <gtest/gtest.h>

namespace {

namespace engine = lowbit::engine;
namespace data = lowbit::data;

const std::string kConfigs = std::string(LOWBIT_SOURCE_DIR) + "/configs/data/";

// A recipe including `include` (if any) with `data_keys` added to its data: section.
engine::Recipe recipe_with(const lowbit::testing::TempDir& dir, const std::string& include, const std::string& data_keys,
                           const std::vector<std::string>& overrides = {}) {
  dir.write("r.yaml", "name: t\n" + (include.empty() ? "" : "include: [" + kConfigs + include + "]\n") +
                          "data: {dataset: imagenet, root: /nonexistent" + data_keys + "}\n"
                          "model: {name: small_cnn, in_channels: 3, classes: 1000, image_size: 32}\n"
                          "stages: [{epochs: 1, optimizer: {name: sgd, lr: 0.1}}]\n");
  return engine::parse_recipe(dir.file("r.yaml"), overrides);
}

engine::ImagenetAugmentation augmentation_of(const engine::Recipe& recipe) {
  lowbit::ParamReader reader("data set 'imagenet'", recipe.data.options);
  return engine::read_imagenet_augmentation(reader);
}

// The recipe key of the error parsing `data_keys` gives, or "(no error)".
std::string error_key(const std::string& data_keys) {
  lowbit::testing::TempDir dir;
  try {
    recipe_with(dir, "", data_keys);
  } catch (const engine::RecipeError& e) {
    return e.key();
  }
  return "(no error)";
}

}  // namespace

TEST(ImagenetAugmentation, AbsentKeysAreReactNetsPipeline) {
  lowbit::testing::TempDir dir;
  const auto a = augmentation_of(recipe_with(dir, "", ""));
  EXPECT_EQ(a.train.interpolation, data::Interpolation::Bilinear);
  EXPECT_EQ(a.train.crop_scale[0], 0.08);
  EXPECT_EQ(a.train.lighting, 0.1);
  EXPECT_EQ(a.train.hflip, 0.5);
  EXPECT_FALSE(a.train.rand_augment || a.train.random_erasing || a.mixup);
  EXPECT_EQ(a.eval.interpolation, data::Interpolation::Bilinear);
  EXPECT_EQ(data::eval_resize(224, a.eval.crop_pct), 256);
  EXPECT_EQ(a.repeated_augment, 1);
}

TEST(ImagenetAugmentation, ReactNetConfigWritesTheDefaultsOut) {
  lowbit::testing::TempDir dir;
  const auto a = augmentation_of(recipe_with(dir, "imagenet_reactnet.yaml", ""));
  const auto defaults = augmentation_of(recipe_with(dir, "", ""));
  EXPECT_EQ(a.train.interpolation, defaults.train.interpolation);
  EXPECT_EQ(a.train.crop_scale, defaults.train.crop_scale);
  EXPECT_DOUBLE_EQ(a.train.crop_ratio[1], defaults.train.crop_ratio[1]);
  EXPECT_EQ(a.train.lighting, defaults.train.lighting);
  EXPECT_EQ(a.train.hflip, defaults.train.hflip);
  EXPECT_FALSE(a.train.rand_augment || a.train.random_erasing || a.mixup);
  EXPECT_EQ(a.eval.crop_pct, defaults.eval.crop_pct);
  EXPECT_EQ(a.repeated_augment, 1);
}

TEST(ImagenetAugmentation, DeitConfigIsDeitsPipeline) {
  lowbit::testing::TempDir dir;
  const auto a = augmentation_of(recipe_with(dir, "imagenet_deit.yaml", ""));
  EXPECT_EQ(a.train.interpolation, data::Interpolation::Bicubic);
  EXPECT_EQ(a.train.lighting, 0.0);
  ASSERT_TRUE(a.train.rand_augment);
  EXPECT_EQ(a.train.rand_augment->magnitude, 9);
  EXPECT_EQ(a.train.rand_augment->magnitude_std, 0.5);
  EXPECT_EQ(a.train.rand_augment->num_ops, 2);
  EXPECT_TRUE(a.train.rand_augment->increasing);
  EXPECT_EQ(a.train.rand_augment->interpolation, data::Interpolation::Bicubic);
  ASSERT_TRUE(a.train.random_erasing);
  EXPECT_EQ(a.train.random_erasing->probability, 0.25);
  EXPECT_EQ(a.train.random_erasing->mode, "pixel");
  ASSERT_TRUE(a.mixup);
  EXPECT_EQ(a.mixup->mixup_alpha(), 0.8);
  EXPECT_EQ(a.mixup->cutmix_alpha(), 1.0);
  EXPECT_EQ(a.mixup->switch_prob(), 0.5);
  EXPECT_EQ(a.mixup->label_smoothing(), 0.1);
  EXPECT_EQ(a.eval.interpolation, data::Interpolation::Bicubic);
  EXPECT_EQ(data::eval_resize(224, a.eval.crop_pct), 256);
  EXPECT_EQ(a.repeated_augment, 3);
}

TEST(ImagenetAugmentation, NullTakesOutAnIncludedMixupAndOverridesReachNestedKeys) {
  lowbit::testing::TempDir dir;
  const auto a = augmentation_of(recipe_with(dir, "imagenet_deit.yaml", ", mixup: null",
                                             {"data.train_transform.rand_augment.magnitude=7"}));
  EXPECT_FALSE(a.mixup);
  EXPECT_EQ(a.train.rand_augment->magnitude, 7);
  EXPECT_EQ(a.train.rand_augment->magnitude_std, 0.5);  // the rest of the mapping stays
}

TEST(ImagenetAugmentation, PartialMappingsFillInTimmsValues) {
  lowbit::testing::TempDir dir;
  const auto a = augmentation_of(recipe_with(
      dir, "", ", train_transform: {rand_augment: {}, random_erasing: {mode: const}}, mixup: {mixup_alpha: 0}"));
  EXPECT_EQ(a.train.rand_augment->magnitude, 9);
  EXPECT_EQ(a.train.random_erasing->probability, 0.25);
  EXPECT_EQ(a.train.random_erasing->mode, "const");
  EXPECT_EQ(a.mixup->mixup_alpha(), 0.0);
  EXPECT_EQ(a.mixup->cutmix_alpha(), 1.0);
}

TEST(ImagenetAugmentation, BadKeysAndValuesAreErrorsAtTheirKey) {
  EXPECT_EQ(error_key(""), "(no error)");
  EXPECT_EQ(error_key(", train_transform: {interpolation: bicubik}"), "data.train_transform.interpolation");
  EXPECT_EQ(error_key(", train_transform: {crop_scale: [0.08]}"), "data.train_transform.crop_scale");
  EXPECT_EQ(error_key(", train_transform: {crop_scale: [0.5, 0.2]}"), "data.train_transform.crop_scale");
  EXPECT_EQ(error_key(", train_transform: {crop_scale: [0.08, 1.5]}"), "data.train_transform.crop_scale");
  EXPECT_EQ(error_key(", train_transform: {crop_ratio: [0, 1]}"), "data.train_transform.crop_ratio");
  EXPECT_EQ(error_key(", train_transform: {hflip: 2}"), "data.train_transform.hflip");
  EXPECT_EQ(error_key(", train_transform: {lighting: -0.1}"), "data.train_transform.lighting");
  EXPECT_EQ(error_key(", train_transform: {flip: 0.5}"), "data.train_transform.flip");
  EXPECT_EQ(error_key(", train_transform: {rand_augment: {magnitude: 11}}"),
            "data.train_transform.rand_augment.magnitude");
  EXPECT_EQ(error_key(", train_transform: {rand_augment: {num_ops: 0}}"), "data.train_transform.rand_augment.num_ops");
  EXPECT_EQ(error_key(", train_transform: {rand_augment: {mstd: 0.5}}"), "data.train_transform.rand_augment.mstd");
  EXPECT_EQ(error_key(", train_transform: {rand_augment: true}"), "data.train_transform.rand_augment");
  EXPECT_EQ(error_key(", train_transform: {random_erasing: {mode: pixels}}"),
            "data.train_transform.random_erasing.mode");
  EXPECT_EQ(error_key(", train_transform: {random_erasing: {probability: 1.5}}"),
            "data.train_transform.random_erasing.probability");
  EXPECT_EQ(error_key(", eval_transform: {crop_pct: 0}"), "data.eval_transform.crop_pct");
  EXPECT_EQ(error_key(", eval_transform: {crop: 0.9}"), "data.eval_transform.crop");
  EXPECT_EQ(error_key(", mixup: {mixup_alpha: -1}"), "data.mixup.mixup_alpha");
  EXPECT_EQ(error_key(", mixup: {mixup_alpha: 0, cutmix_alpha: 0}"), "data.mixup.mixup_alpha");
  EXPECT_EQ(error_key(", mixup: {switch_prob: 1.1}"), "data.mixup.switch_prob");
  EXPECT_EQ(error_key(", mixup: {smoothing: 0.1}"), "data.mixup.smoothing");
  EXPECT_EQ(error_key(", repeated_augment: 0"), "data.repeated_augment");
  EXPECT_EQ(error_key(", train_transforms: {}"), "data.train_transforms");
}

TEST(ImagenetAugmentation, ErrorsSayWhatWasExpected) {
  lowbit::testing::TempDir dir;
  try {
    recipe_with(dir, "", ", train_transform: {crop_scale: [0.5, 0.2]}");
    FAIL() << "no error";
  } catch (const engine::RecipeError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("r.yaml:2: data.train_transform.crop_scale: expected 0 < low <= high <= 1, got [0.5, 0.2]"),
              std::string::npos)
        << message;
  }
}
