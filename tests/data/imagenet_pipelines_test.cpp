// The configurable ImageNet pipelines run their steps in timm's / ReActNet's order, each drawing
// from the one Rng in turn: the defaults are ReActNet's RandomResizedCrop(bilinear) -> Lighting(0.1)
// -> flip -> ToTensor -> Normalize and Resize(size * 256 / 224) -> CenterCrop, and DeiT's settings
// are RandomResizedCrop(bicubic) -> flip -> RandAugment -> ToTensor -> Normalize -> RandomErasing.
#include <lowbit/csrc/data/imagenet_pipelines.h>

#include <gtest/gtest.h>

#include <torch/torch.h>

namespace {

namespace data = lowbit::data;

at::Tensor pipeline_test_image() {
  return torch::randint(0, 256, {3, 60, 80}, at::detail::createCPUGenerator(17)).to(torch::kByte);
}

data::TrainPipeline deit_pipeline() {
  data::TrainPipeline p;
  p.interpolation = data::Interpolation::Bicubic;
  p.lighting = 0;
  p.rand_augment = data::RandAugmentOptions();
  p.random_erasing = data::RandomErasingOptions();
  p.random_erasing->probability = 1.0;  // so that every seed exercises it
  return p;
}

}  // namespace

TEST(ImagenetPipelines, DefaultsAreReactNetsTransforms) {
  const auto image = pipeline_test_image();
  for (uint64_t seed = 0; seed < 8; ++seed) {
    data::Rng rng(seed), expected_rng(seed);
    auto expected = data::random_resized_crop(image, 32, expected_rng);
    expected = data::lighting(expected, expected_rng, 0.1);
    expected = data::random_horizontal_flip(expected, expected_rng);
    const auto out = data::train_pipeline(image, rng, 32, {});
    EXPECT_EQ(out.sizes(), (std::vector<int64_t>{3, 32, 32}));
    EXPECT_EQ(out.scalar_type(), torch::kFloat);
    EXPECT_TRUE(torch::equal(out, data::normalize(data::to_float(expected)))) << seed;
  }
  const auto eval = data::normalize(data::to_float(data::center_crop(data::resize_shorter_side(image, 32 * 256 / 224), 32)));
  EXPECT_TRUE(torch::equal(data::eval_pipeline(image, 32, {}), eval));
  EXPECT_EQ(data::eval_resize(224, 0.875), 256);
  EXPECT_EQ(data::eval_resize(32, 0.875), 36);  // floor(36.57), as ReActNet's 32 * 256 / 224
  EXPECT_EQ(data::eval_resize(224, 0.9), 248);  // timm's floor(224 / 0.9)
}

TEST(ImagenetPipelines, DeitOrderIsCropFlipRandAugmentNormalizeErase) {
  const auto image = pipeline_test_image();
  const auto pipeline = deit_pipeline();
  for (uint64_t seed = 0; seed < 8; ++seed) {
    data::Rng rng(seed), expected_rng(seed);
    auto expected = data::random_resized_crop(image, 32, expected_rng, {0.08, 1.0}, {3.0 / 4.0, 4.0 / 3.0},
                                              data::Interpolation::Bicubic);
    expected = data::random_horizontal_flip(expected, expected_rng, 0.5);
    expected = data::rand_augment(expected, expected_rng, *pipeline.rand_augment);
    expected = data::random_erasing(data::normalize(data::to_float(expected)), expected_rng, *pipeline.random_erasing);
    EXPECT_TRUE(torch::equal(data::train_pipeline(image, rng, 32, pipeline), expected)) << seed;
  }
}

TEST(ImagenetPipelines, StepsTurnedOffDrawNothing) {
  const auto image = pipeline_test_image();
  data::TrainPipeline plain;
  plain.lighting = 0;
  plain.hflip = 0;
  data::Rng rng(3), expected_rng(3);
  const auto expected = data::normalize(data::to_float(data::random_resized_crop(image, 32, expected_rng)));
  EXPECT_TRUE(torch::equal(data::train_pipeline(image, rng, 32, plain), expected));
  EXPECT_EQ(rng.uniform(), expected_rng.uniform());  // the same number of draws
}

TEST(ImagenetPipelines, EvalResizesTheShorterSideThenCropsTheCentre) {
  const auto image = pipeline_test_image();
  const data::EvalPipeline bicubic{data::Interpolation::Bicubic, 0.875};
  const auto expected = data::normalize(data::to_float(
      data::center_crop(data::resize_shorter_side(image, 36, data::Interpolation::Bicubic), 32)));
  EXPECT_TRUE(torch::equal(data::eval_pipeline(image, 32, bicubic), expected));
}
