#include <lowbit/csrc/data/random_erasing.h>

#include <gtest/gtest.h>

#include <torch/torch.h>

#include <cmath>

using namespace lowbit::data;

namespace {

// The box a "const" erasing zeroed in an image of ones (empty when nothing was erased).
CropBox zeroed_box(const torch::Tensor& erased) {
  const auto zero = (erased == 0).all(0);
  const auto rows = zero.any(1).nonzero(), columns = zero.any(0).nonzero();
  if (rows.size(0) == 0) return {0, 0, 0, 0};
  const int64_t top = rows[0].item<int64_t>(), left = columns[0].item<int64_t>();
  return {top, left, rows.size(0), columns.size(0)};
}

}  // namespace

TEST(RandomErasing, EraseReplacesTheBoxOnly) {
  const auto image = torch::zeros({2, 4, 5});
  const auto out = erase(image, {1, 2, 2, 3}, torch::full({2, 1, 1}, 7.0));
  EXPECT_EQ(out.sum().item<double>(), 7.0 * 2 * 2 * 3);
  EXPECT_TRUE(torch::equal(out.slice(1, 1, 3).slice(2, 2, 5), torch::full({2, 2, 3}, 7.0)));
  EXPECT_EQ(image.sum().item<double>(), 0.0);  // the input is not modified
  EXPECT_THROW(erase(image, {3, 0, 2, 1}, torch::zeros({2, 1, 1})), c10::Error);
}

TEST(RandomErasing, BoxesFollowTimmAreaAndAspectDraws) {
  // probability 1, "const": every image gets one box with 0.02 <= area <= 1/3 and aspect h / w in
  // [0.3, 1 / 0.3], up to the rounding of h and w; ln(aspect) uniform, so its mean is 0.
  RandomErasingOptions options;
  options.probability = 1.0;
  options.mode = "const";
  const int64_t height = 36, width = 36;  // square: the accepted aspects stay symmetric in ln
  const auto image = torch::ones({3, height, width});
  Rng rng(5);
  double log_aspect_sum = 0;
  const int n = 1000;
  for (int i = 0; i < n; ++i) {
    const auto box = zeroed_box(random_erasing(image, rng, options));
    ASSERT_GT(box.height * box.width, 0);
    const double h = box.height, w = box.width, area = double(height) * width;
    EXPECT_TRUE((h + 0.5) * (w + 0.5) >= 0.02 * area && (h - 0.5) * (w - 0.5) <= area / 3) << h << "x" << w;
    EXPECT_TRUE((h + 0.5) / (w - 0.5) >= 0.3 && (h - 0.5) / (w + 0.5) <= 1 / 0.3) << h << "x" << w;
    EXPECT_TRUE(box.height < height && box.width < width);
    log_aspect_sum += std::log(h / w);
  }
  EXPECT_NEAR(log_aspect_sum / n, 0.0, 0.1);
}

TEST(RandomErasing, ErasesWithProbabilityAndPerPixelNormals) {
  // DeiT's settings: p = 0.25, "pixel": the erased values are N(0, 1) draws.
  const RandomErasingOptions options;
  const auto image = torch::full({3, 40, 40}, 100.0f);
  Rng rng(8);
  int erased = 0;
  double sum = 0, sum_sq = 0;
  int64_t count = 0;
  const int n = 4000;
  for (int i = 0; i < n; ++i) {
    const auto out = random_erasing(image, rng, options);
    EXPECT_EQ(out.scalar_type(), torch::kFloat);
    const auto values = out.masked_select(out != 100.0f).to(torch::kDouble);
    if (values.numel() == 0) continue;
    ++erased;
    sum += values.sum().item<double>();
    sum_sq += values.pow(2).sum().item<double>();
    count += values.numel();
  }
  EXPECT_NEAR(erased / double(n), 0.25, 0.025);
  EXPECT_NEAR(sum / count, 0.0, 0.01);
  EXPECT_NEAR(sum_sq / count, 1.0, 0.02);
}

TEST(RandomErasing, RandModeFillsOneValuePerChannelAndSeedsRepeat) {
  RandomErasingOptions options;
  options.probability = 1.0;
  options.mode = "rand";
  const auto image = torch::full({3, 30, 30}, 100.0);
  Rng a(3), b(3);
  const auto out = random_erasing(image, a, options);
  EXPECT_TRUE(torch::equal(out, random_erasing(image, b, options)));
  for (int64_t c = 0; c < 3; ++c) {
    const auto values = out[c].masked_select(out[c] != 100.0);
    ASSERT_GT(values.numel(), 0);
    EXPECT_TRUE(torch::equal(values, values[0].expand_as(values))) << c;
  }
  options.mode = "noise";
  EXPECT_THROW(random_erasing(image, a, options), c10::Error);
}
