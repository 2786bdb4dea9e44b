#include <lowbit/csrc/data/detection_transforms.h>
#include <lowbit/csrc/data/mmdet_transforms.h>

#include <lowbit/csrc/util/option_error.h>

#include <gtest/gtest.h>

#include <set>

#include <torch/torch.h>

using namespace lowbit::data;

namespace {

// A uint8 image [3, h, w] whose pixels differ.
torch::Tensor detection_ramp(int64_t h, int64_t w) {
  return torch::arange(3 * h * w, torch::kLong).remainder(251).to(torch::kByte).view({3, h, w});
}

DetectionSample sample_of(torch::Tensor image, std::vector<std::array<float, 4>> boxes, std::vector<bool> ignore = {}) {
  const auto n = static_cast<int64_t>(boxes.size());
  DetectionSample s{std::move(image), torch::empty({n, 4}), torch::arange(n, torch::kLong), torch::zeros({n}, torch::kBool)};
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t k = 0; k < 4; ++k) s.boxes[i][k] = boxes[i][k];
    if (!ignore.empty()) s.ignore[i] = static_cast<bool>(ignore[i]);
  }
  return s;
}

torch::Tensor box_tensor(std::vector<std::array<float, 4>> boxes) {
  return sample_of(torch::zeros({3, 1, 1}, torch::kByte), std::move(boxes)).boxes;
}

void expect_same_sample(const DetectionSample& a, const DetectionSample& b) {
  EXPECT_TRUE(torch::equal(a.image, b.image));
  EXPECT_TRUE(torch::equal(a.boxes, b.boxes));
  EXPECT_TRUE(torch::equal(a.labels, b.labels));
  EXPECT_TRUE(torch::equal(a.ignore, b.ignore));
}

std::pair<int64_t, int64_t> height_width(int64_t height, int64_t width) { return {height, width}; }

// Small sizes: crops and caps happen on a 48 x 64 image.
DetrTransformOptions small_detr() {
  return DetrTransformOptions().scales({64, 96}).max_size(128).crop_scales({80}).crop({40, 60}).eval_size(96);
}

}  // namespace

TEST(DetectionTransforms, HflipMirrorsPixelsAndBoxes) {
  const auto image = detection_ramp(4, 10);
  const auto out = hflip(sample_of(image, {{1, 2, 4, 3}, {0, 0, 10, 4}}));
  // (x1, y1, x2, y2) -> (W - x2, y1, W - x1, y2), W = 10
  EXPECT_TRUE(torch::equal(out.boxes, box_tensor({{6, 2, 9, 3}, {0, 0, 10, 4}})));
  for (int64_t x = 0; x < 10; ++x) EXPECT_TRUE(torch::equal(out.image.select(2, x), image.select(2, 9 - x)));
}

TEST(DetectionTransforms, ResizedSizeFollowsDetrGetSize) {
  EXPECT_EQ(resized_size(480, 640, 800, 1333), height_width(800, 1066));  // int(800 * 640 / 480)
  EXPECT_EQ(resized_size(640, 480, 800, 1333), height_width(1066, 800));
  EXPECT_EQ(resized_size(426, 640, 800, 1333), height_width(800, 1201));  // 1201.88 truncated
  // 2000 / 500 * 800 > 1333: size = round(1333 * 500 / 2000) = round(333.25) = 333, long = int(333 * 4)
  EXPECT_EQ(resized_size(500, 2000, 800, 1333), height_width(333, 1332));
  EXPECT_EQ(resized_size(800, 1000, 800, 1333), height_width(800, 1000));  // already the size
  EXPECT_EQ(resized_size(500, 2000, 800), height_width(800, 3200));       // no max_size
  // round(5 * 1 / 2) = round(2.5) = 2 (Python's round: half to even), long = int(2 * 2 / 1)
  EXPECT_EQ(resized_size(1, 2, 10, 5), height_width(2, 4));
  // A small configuration: the longer side capped at 320.
  EXPECT_EQ(resized_size(480, 640, 800, 320), height_width(240, 320));
}

TEST(DetectionTransforms, ResizeScalesBoxesByTheSizeRatios) {
  const auto out = resize(sample_of(detection_ramp(10, 20), {{2, 4, 10, 8}}), 5, 40);
  EXPECT_EQ(out.image.sizes(), (std::vector<int64_t>{3, 5, 40}));
  EXPECT_EQ(out.image.scalar_type(), torch::kByte);
  // x * 40 / 20, y * 5 / 10
  EXPECT_TRUE(torch::equal(out.boxes, box_tensor({{4, 2, 20, 4}})));
}

TEST(DetectionTransforms, CropShiftsClipsAndDropsEmptyBoxesInStep) {
  const auto image = detection_ramp(10, 10);
  const auto in = sample_of(image, {{1, 1, 5, 5}, {6, 6, 12, 12}, {0, 0, 2, 2}, {9, 1, 12, 2}}, {false, true, false, false});
  const auto out = crop(in, CropBox{3, 3, 5, 5});
  // shifted by (-3, -3), clipped to [0, 5]: (-2, -2, 2, 2) -> (0, 0, 2, 2); (3, 3, 9, 9) -> (3, 3, 5, 5);
  // (-3, -3, -1, -1) -> (0, 0, 0, 0) and (6, -2, 9, -1) -> (5, 0, 5, 0) are empty: dropped
  EXPECT_TRUE(torch::equal(out.boxes, box_tensor({{0, 0, 2, 2}, {3, 3, 5, 5}})));
  EXPECT_TRUE(torch::equal(out.labels, torch::tensor({0, 1}, torch::kLong)));
  EXPECT_TRUE(torch::equal(out.ignore, torch::tensor({false, true})));
  EXPECT_TRUE(torch::equal(out.image, image.narrow(1, 3, 5).narrow(2, 3, 5)));
}

TEST(DetectionTransforms, RandomSizeCropStaysInBoundsAndFollowsTheRng) {
  for (uint64_t seed = 0; seed < 50; ++seed) {
    Rng rng(seed), again(seed);
    const auto out = random_size_crop(sample_of(detection_ramp(50, 60), {{0, 0, 60, 50}}), rng, 20, 40);
    const auto h = out.image.size(1), w = out.image.size(2);
    ASSERT_TRUE(h >= 20 && h <= 40 && w >= 20 && w <= 40) << h << "x" << w;
    // The whole-image box becomes the whole crop.
    EXPECT_TRUE(torch::equal(out.boxes, box_tensor({{0, 0, static_cast<float>(w), static_cast<float>(h)}})));
    expect_same_sample(out, random_size_crop(sample_of(detection_ramp(50, 60), {{0, 0, 60, 50}}), again, 20, 40));
  }
  Rng rng(0);
  EXPECT_THROW(random_size_crop(sample_of(detection_ramp(10, 60), {}), rng, 20, 40), c10::Error);
}

TEST(DetrTransforms, TrainIsFlipThenSelectBetweenResizeAndCropBranchThenNormalize) {
  const auto options = small_detr();
  int flipped = 0, cropped = 0;
  for (uint64_t seed = 0; seed < 40; ++seed) {
    const auto in = sample_of(detection_ramp(48, 64), {{8, 8, 40, 40}, {0, 0, 64, 48}});
    Rng rng(seed), manual(seed), again(seed);
    const auto out = detr_train_transform(in, rng, options);
    // The same steps by hand, drawing from an equally seeded Rng in DETR's order.
    const bool flip = Rng(seed).uniform() < 0.5;
    auto expected = random_horizontal_flip(in, manual, 0.5);
    if (manual.uniform() < 0.5) {
      expected = random_resize(expected, manual, {64, 96}, 128);
    } else {
      expected = random_resize(expected, manual, {80});
      expected = random_size_crop(expected, manual, 40, 60);
      expected = random_resize(expected, manual, {64, 96}, 128);
      ++cropped;
    }
    expect_same_sample(out, normalize(expected));
    EXPECT_EQ(out.image.scalar_type(), torch::kFloat);
    flipped += flip;
    expect_same_sample(out, detr_train_transform(in, again, options));  // deterministic
  }
  EXPECT_GT(flipped, 5);
  EXPECT_GT(cropped, 5);
  EXPECT_LT(cropped, 35);
}

TEST(DetrTransforms, WithoutCropOnlyFlipAndResize) {
  const auto options = small_detr().crop({});
  for (uint64_t seed = 0; seed < 20; ++seed) {
    Rng rng(seed);
    const auto out = detr_train_transform(sample_of(detection_ramp(48, 64), {{8, 8, 40, 40}}), rng, options);
    const auto shorter = std::min(out.image.size(1), out.image.size(2));
    EXPECT_TRUE(shorter == 64 || shorter == 96) << shorter;  // 64 / 48 * 96 = 128: never capped
    EXPECT_EQ(out.boxes.size(0), 1);
  }
}

TEST(DetrTransforms, EvalResizesToEvalSizeAndNormalizes) {
  const auto image = torch::full({3, 48, 64}, 128, torch::kByte);
  const auto out = detr_eval_transform(sample_of(image, {{8, 8, 40, 40}}), small_detr());
  EXPECT_EQ(out.image.sizes(), (std::vector<int64_t>{3, 96, 128}));
  EXPECT_TRUE(torch::equal(out.boxes, box_tensor({{16, 16, 80, 80}})));
  const double mean[3] = {0.485, 0.456, 0.406}, stddev[3] = {0.229, 0.224, 0.225};
  for (int64_t c = 0; c < 3; ++c) {
    const auto expected = static_cast<float>((128.0 / 255.0 - mean[c]) / stddev[c]);
    EXPECT_NEAR(out.image[c].min().item<float>(), expected, 1e-5);
    EXPECT_NEAR(out.image[c].max().item<float>(), expected, 1e-5);
  }
}

TEST(DetrTransforms, OptionErrorsCarryTheOptionKey) {
  const auto key_of = [](const DetrTransformOptions& o) {
    try {
      check_options(o);
    } catch (const lowbit::OptionError& e) {
      return e.key_path();
    }
    return std::string("(no error)");
  };
  EXPECT_EQ(key_of(DetrTransformOptions()), "(no error)");
  EXPECT_EQ(key_of(DetrTransformOptions().crop({})), "(no error)");
  EXPECT_EQ(key_of(DetrTransformOptions().scales({})), "scales");
  EXPECT_EQ(key_of(DetrTransformOptions().crop({600, 384})), "crop");
  EXPECT_EQ(key_of(DetrTransformOptions().crop({450, 600})), "crop");  // larger than crop_scales' 400
  EXPECT_EQ(key_of(DetrTransformOptions().random_select(1.5)), "random_select");
  EXPECT_EQ(key_of(DetrTransformOptions().eval_size(0)), "eval_size");
}

// mmcv.rescale_size: the factor min(long / max(h, w), short / min(h, w)), sizes rounded half up.
TEST(MmdetTransforms, RescaledSizeKeepsTheRatioWithinBothEdges) {
  EXPECT_EQ(rescaled_size(375, 500, {1000, 600}), std::make_pair(int64_t{600}, int64_t{800}));  // VOC, factor 1.6
  EXPECT_EQ(rescaled_size(480, 640, {1333, 800}), std::make_pair(int64_t{800}, int64_t{1067}));  // 1.667
  EXPECT_EQ(rescaled_size(640, 480, {800, 1333}), std::make_pair(int64_t{1067}, int64_t{800}));  // either order
  EXPECT_EQ(rescaled_size(333, 500, {666, 400}), std::make_pair(int64_t{400}, int64_t{601}));    // 400 / 333
  EXPECT_EQ(rescaled_size(100, 1000, {1333, 800}), std::make_pair(int64_t{133}, int64_t{1333}));  // long edge binds
}

TEST(MmdetTransforms, TrainPicksAScaleFlipsAndNormalises) {
  const auto options = MmdetTransformOptions().scales({{96, 64}, {48, 32}}).flip(1.0);
  std::set<int64_t> heights;
  for (uint64_t seed = 0; seed < 16; ++seed) {
    Rng rng(seed);
    const auto out = mmdet_train_transform(sample_of(detection_ramp(32, 48), {{8, 4, 20, 16}}), rng, options);
    const auto h = out.image.size(1);
    heights.insert(h);
    ASSERT_TRUE(h == 64 || h == 32) << h;
    const float f = static_cast<float>(h) / 32;
    EXPECT_EQ(out.image.size(2), h * 3 / 2);
    EXPECT_EQ(out.image.scalar_type(), torch::kFloat);
    const float w = static_cast<float>(out.image.size(2));
    // flipped after the resize: (W - x2, y1, W - x1, y2)
    EXPECT_TRUE(torch::allclose(out.boxes, box_tensor({{w - 20 * f, 4 * f, w - 8 * f, 16 * f}})));
  }
  EXPECT_EQ(heights.size(), 2u);  // both scales drawn
  const auto eval = mmdet_eval_transform(sample_of(detection_ramp(32, 48), {{8, 4, 20, 16}}),
                                         MmdetTransformOptions().test_scale({96, 64}));
  EXPECT_EQ(eval.image.sizes(), torch::IntArrayRef({3, 64, 96}));
  EXPECT_TRUE(torch::allclose(eval.boxes, box_tensor({{16, 8, 40, 32}})));
  EXPECT_LT(eval.image.mean().abs().item<double>(), 2.0);  // normalised
}
