#include <lowbit/csrc/data/transforms.h>

#include <gtest/gtest.h>

#include <torch/torch.h>

#include <cmath>

using namespace lowbit::data;

namespace {

// A uint8 image whose pixels differ, [3, h, w].
torch::Tensor ramp(int64_t h, int64_t w) {
  return torch::arange(3 * h * w, torch::kLong).remainder(251).to(torch::kByte).view({3, h, w});
}

}  // namespace

TEST(Rng, EqualSeedsGiveEqualStreamsAndIntegersStayInRange) {
  Rng a(7), b(7), c(8);
  for (int i = 0; i < 100; ++i) {
    const double u = a.uniform();
    EXPECT_EQ(u, b.uniform());
    EXPECT_TRUE(u >= 0 && u < 1);
    const auto k = a.integer(-2, 3);
    EXPECT_EQ(k, b.integer(-2, 3));
    EXPECT_TRUE(k >= -2 && k <= 3);
  }
  EXPECT_NE(Rng(7).uniform(), c.uniform());
  EXPECT_NE(mix_seed(1, 0, 5), mix_seed(1, 0, 6));
  EXPECT_NE(mix_seed(1, 0, 5), mix_seed(1, 1, 5));
}

TEST(Rng, NormalHasUnitVariance) {
  Rng rng(3);
  double sum = 0, sum_sq = 0;
  const int n = 20000;
  for (int i = 0; i < n; ++i) {
    const double x = rng.normal();
    sum += x;
    sum_sq += x * x;
  }
  EXPECT_NEAR(sum / n, 0.0, 0.03);
  EXPECT_NEAR(sum_sq / n, 1.0, 0.05);
}

TEST(RandomResizedCrop, BoxStaysWithinScaleAndRatioBounds) {
  const int64_t h = 375, w = 500;
  Rng rng(1);
  for (int i = 0; i < 2000; ++i) {
    const auto box = random_resized_crop_box(h, w, rng);
    ASSERT_TRUE(box.top >= 0 && box.left >= 0 && box.top + box.height <= h && box.left + box.width <= w);
    // w and h are rounded to integers: allow half a pixel on each side.
    const double area = static_cast<double>(box.height) * box.width / (h * w);
    const double max_area = (box.height + 0.5) * (box.width + 0.5) / (h * w);
    const double min_area = (box.height - 0.5) * (box.width - 0.5) / (h * w);
    EXPECT_TRUE(max_area >= 0.08 && min_area <= 1.0) << area;
    const double ratio = static_cast<double>(box.width) / box.height;
    EXPECT_TRUE((box.width + 0.5) / (box.height - 0.5) >= 3.0 / 4 && (box.width - 0.5) / (box.height + 0.5) <= 4.0 / 3)
        << ratio;
  }
}

TEST(RandomResizedCrop, FallsBackToCentredCropOfAllowedRatio) {
  // 10 x 1000 admits no crop with ratio <= 4/3 and area >= 8%: every attempt fails, and the
  // fallback keeps the full height with w = round(10 * 4/3) = 13, centred.
  Rng rng(0);
  const auto box = random_resized_crop_box(10, 1000, rng);
  EXPECT_EQ(box.top, 0);
  EXPECT_EQ(box.height, 10);
  EXPECT_EQ(box.width, 13);
  EXPECT_EQ(box.left, (1000 - 13) / 2);
}

TEST(RandomResizedCrop, ShapeAndDeterminism) {
  const auto image = ramp(60, 80);
  Rng a(5), b(5), c(6);
  const auto out_a = random_resized_crop(image, 32, a);
  EXPECT_EQ(out_a.sizes(), (std::vector<int64_t>{3, 32, 32}));
  EXPECT_EQ(out_a.scalar_type(), torch::kByte);
  EXPECT_TRUE(torch::equal(out_a, random_resized_crop(image, 32, b)));
  EXPECT_FALSE(torch::equal(out_a, random_resized_crop(image, 32, c)));
  Rng d(5);
  EXPECT_EQ(random_resized_crop(image.to(torch::kFloat), 32, d).scalar_type(), torch::kFloat);
}

TEST(RandomHorizontalFlip, MirrorsColumns) {
  const auto image = torch::tensor({1, 2, 3, 4, 5, 6}, torch::kByte).view({1, 2, 3});
  Rng rng(0);
  EXPECT_TRUE(torch::equal(random_horizontal_flip(image, rng, 1.0),
                           torch::tensor({3, 2, 1, 6, 5, 4}, torch::kByte).view({1, 2, 3})));
  EXPECT_TRUE(torch::equal(random_horizontal_flip(image, rng, 0.0), image));
  int flipped = 0;
  for (int i = 0; i < 1000; ++i) flipped += !torch::equal(random_horizontal_flip(image, rng), image);
  EXPECT_NEAR(flipped, 500, 60);
}

TEST(Lighting, AddsPcaNoiseAlongEigenvectors) {
  // inc = eigvec * (alpha .* eigval), alpha = 0.1 * (the generator's first three normals).
  const double eigval[3] = {0.2175, 0.0188, 0.0045};
  const double eigvec[3][3] = {{-0.5675, 0.7192, 0.4009}, {-0.5808, -0.0045, -0.8140}, {-0.5836, -0.6948, 0.4203}};
  Rng draws(11);
  double alpha[3];
  for (auto& a : alpha) a = 0.1 * draws.normal();
  Rng rng(11);
  const auto out = lighting(torch::zeros({3, 2, 2}, torch::kDouble), rng, 0.1);
  for (int c = 0; c < 3; ++c) {
    double inc = 0;
    for (int i = 0; i < 3; ++i) inc += eigvec[c][i] * alpha[i] * eigval[i];
    EXPECT_TRUE(torch::allclose(out[c], torch::full({2, 2}, inc, torch::kDouble))) << c;
  }
}

TEST(Lighting, Uint8FollowsOfficialTruncation) {
  // The official code's clip(x + inc, 0, 255).astype(uint8) with |inc| < 1: a channel with
  // inc < 0 loses one grey level, one with inc >= 0 keeps its value; 0 stays 0.
  Rng float_rng(4), byte_rng(4);
  const auto inc = lighting(torch::zeros({3, 1, 1}, torch::kDouble), float_rng, 0.1).flatten();
  const auto out = lighting(torch::tensor({100, 0, 255}, torch::kByte).view({1, 1, 3}).expand({3, 1, 3}).contiguous(),
                            byte_rng, 0.1);
  for (int c = 0; c < 3; ++c) {
    const int drop = inc[c].item<double>() < 0 ? 1 : 0;
    EXPECT_EQ(out[c][0][0].item<int>(), 100 - drop) << c;
    EXPECT_EQ(out[c][0][1].item<int>(), 0) << c;
    EXPECT_EQ(out[c][0][2].item<int>(), 255 - drop) << c;
  }
}

TEST(Normalize, SubtractsImagenetMeanAndDividesByStd) {
  const auto image = torch::stack({torch::full({1, 2}, 0.485), torch::full({1, 2}, 1.0), torch::full({1, 2}, 0.0)});
  const auto out = normalize(image);
  EXPECT_NEAR(out[0][0][0].item<double>(), 0.0, 1e-6);
  EXPECT_NEAR(out[1][0][1].item<double>(), (1.0 - 0.456) / 0.224, 1e-5);
  EXPECT_NEAR(out[2][0][0].item<double>(), -0.406 / 0.225, 1e-5);
}

TEST(ToTensor, ScalesBytesToUnitRange) {
  EXPECT_TRUE(torch::allclose(to_float(torch::tensor({0, 51, 255}, torch::kByte).view({1, 1, 3})),
                              torch::tensor({0.0f, 0.2f, 1.0f}).view({1, 1, 3})));
}

TEST(Resize, ShorterSideBecomesSizeLongerIsTruncated) {
  EXPECT_EQ(resize_shorter_side(ramp(375, 500), 256).sizes(), (std::vector<int64_t>{3, 256, 341}));  // 341.33
  EXPECT_EQ(resize_shorter_side(ramp(500, 333), 256).sizes(), (std::vector<int64_t>{3, 384, 256}));  // 384.38
  EXPECT_EQ(resize_shorter_side(ramp(56, 75), 256).sizes(), (std::vector<int64_t>{3, 256, 342}));    // 342.86
}

TEST(Resize, ConstantImageStaysConstant) {
  const auto out = resize(torch::full({3, 40, 50}, 77, torch::kByte), 13, 17);
  EXPECT_TRUE(torch::equal(out, torch::full({3, 13, 17}, 77, torch::kByte)));
}

TEST(CenterCrop, RoundsOffsetsHalfToEven) {
  // 5 x 8 -> 2 x 2: top = round(1.5) = 2, left = round(3) = 3; 7 x 9 -> 4 x 4: round(1.5) = round(2.5) = 2.
  const auto image = torch::arange(5 * 8).view({1, 5, 8});
  EXPECT_TRUE(torch::equal(center_crop(image, 2), image.slice(1, 2, 4).slice(2, 3, 5)));
  const auto odd = torch::arange(7 * 9).view({1, 7, 9});
  EXPECT_TRUE(torch::equal(center_crop(odd, 4), odd.slice(1, 2, 6).slice(2, 2, 6)));
}

TEST(Resize, InterpolationByName) {
  EXPECT_EQ(parse_interpolation("bilinear"), Interpolation::Bilinear);
  EXPECT_EQ(parse_interpolation("bicubic"), Interpolation::Bicubic);
  EXPECT_THROW(parse_interpolation("lanczos"), c10::Error);
}

TEST(RandomResizedCrop, BicubicResizesTheSameBox) {
  // The box does not depend on the filter; float images go through torch's antialiased bicubic,
  // which neither rounds nor clips between its passes: on a plane (no overshoot) it stays within one
  // grey level of PIL's once rounded.
  const auto y = torch::arange(60, torch::kLong).view({1, 60, 1}), x = torch::arange(80, torch::kLong).view({1, 1, 80});
  const auto image = (x + 2 * y + torch::arange(3, torch::kLong).view({3, 1, 1})).to(torch::kByte);
  Rng box_rng(5), crop_rng(5), float_rng(5);
  const auto box = random_resized_crop_box(60, 80, box_rng);
  const auto crop = image.narrow(1, box.top, box.height).narrow(2, box.left, box.width);
  const auto out = random_resized_crop(image, 32, crop_rng, {0.08, 1.0}, {3.0 / 4, 4.0 / 3}, Interpolation::Bicubic);
  EXPECT_TRUE(torch::equal(out, resize(crop, 32, 32, Interpolation::Bicubic)));
  const auto float_out = random_resized_crop(image.to(torch::kFloat), 32, float_rng, {0.08, 1.0}, {3.0 / 4, 4.0 / 3},
                                             Interpolation::Bicubic);
  EXPECT_EQ(float_out.scalar_type(), torch::kFloat);
  EXPECT_LE((float_out.round() - out.to(torch::kFloat)).abs().max().item<float>(), 1.0f);
}
