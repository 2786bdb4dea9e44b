// Mixup / CutMix against timm: tests/data/reference/mixup_reference.txt holds timm's Mixup (mode
// 'batch', correct_lam, label smoothing 0.1) on a 4 x 2 x 5 x 7 batch with fixed draws (lam,
// cutmix or not, the box centre), made by reference/mixup_reference.py. Given the same draws, the
// deterministic core must give the same box, corrected lam, images and targets; the random draws
// are checked for their distributions and their determinism.
#include <lowbit/csrc/data/mixup.h>
#include <lowbit/csrc/util/option_error.h>

#include "support/reference_numbers.h"

#include <gtest/gtest.h>

#include <torch/torch.h>

namespace {

namespace data = lowbit::data;

const std::map<std::string, torch::Tensor>& timm() {
  static const auto numbers = lowbit::testing::read_reference_numbers("tests/data/reference/mixup_reference.txt");
  return numbers;
}

torch::Tensor input_images() { return timm().at("input.images").to(torch::kFloat); }
torch::Tensor input_labels() { return timm().at("input.labels").to(torch::kLong); }

// The case's images and targets from `draw`, compared with timm's (float32 both).
void expect_as_timm(const std::string& name, const data::MixupDraw& draw) {
  EXPECT_DOUBLE_EQ(draw.lam, timm().at(name + ".lam").item<double>()) << name;
  const auto images = data::mix_images(input_images(), draw);
  const auto targets = data::mix_targets(input_labels(), 6, draw.lam, 0.1);
  EXPECT_EQ(images.scalar_type(), torch::kFloat);
  EXPECT_EQ(targets.scalar_type(), torch::kFloat);
  EXPECT_EQ((images.to(torch::kDouble) - timm().at(name + ".images")).abs().max().item<double>(), 0.0) << name;
  EXPECT_EQ((targets.to(torch::kDouble) - timm().at(name + ".targets")).abs().max().item<double>(), 0.0) << name;
}

// timm's box (top, bottom, left, right) as a CropBox.
data::CropBox timm_box(const std::string& name) {
  const auto b = timm().at(name + ".box").to(torch::kLong);
  const auto top = b[0].item<int64_t>(), bottom = b[1].item<int64_t>();
  const auto left = b[2].item<int64_t>(), right = b[3].item<int64_t>();
  return {top, left, bottom - top, right - left};
}

void expect_cutmix_as_timm(const std::string& name, double lam, int64_t center_y, int64_t center_x) {
  const auto draw = data::cutmix_at(lam, 5, 7, center_y, center_x);
  const auto expected = timm_box(name);
  EXPECT_TRUE(draw.cutmix);
  EXPECT_EQ(draw.box.top, expected.top) << name;
  EXPECT_EQ(draw.box.left, expected.left) << name;
  EXPECT_EQ(draw.box.height, expected.height) << name;
  EXPECT_EQ(draw.box.width, expected.width) << name;
  expect_as_timm(name, draw);
}

}  // namespace

TEST(Mixup, BlendsTheBatchWithItsFlipAsTimm) { expect_as_timm("mixup", {false, 0.3721, {0, 0, 0, 0}}); }

TEST(Mixup, CutmixBoxLamAndImagesAsTimm) {
  expect_cutmix_as_timm("cutmix", 0.61, 2, 3);         // a 3 x 4 box inside the image
  expect_cutmix_as_timm("cutmix_border", 0.61, 0, 6);  // clipped at two edges: lam corrected to the area
  expect_cutmix_as_timm("cutmix_odd", 0.3, 3, 2);      // odd width: (cut + 1) // 2 right of the centre
}

TEST(Mixup, TargetsWithoutSmoothingAsTimm) {
  const auto targets = data::mix_targets(input_labels(), 6, 0.25, 0.0);
  EXPECT_TRUE(torch::equal(targets.to(torch::kDouble), timm().at("smoothing0.targets")));
}

TEST(Mixup, LamOneLeavesTheBatchAlone) {
  const auto images = input_images();
  EXPECT_TRUE(torch::equal(data::mix_images(images, {}), images));
  const auto targets = data::mix_targets(input_labels(), 6, 1.0, 0.1);
  EXPECT_NEAR(targets[0][0].item<float>(), 0.9f + 0.1f / 6, 1e-7);
  EXPECT_TRUE(torch::allclose(targets.sum(1), torch::ones({4})));
}

TEST(Mixup, OddBatchMixesItsMiddleImageWithItself) {
  const auto images = input_images().slice(0, 0, 3);
  const auto mixed = data::mix_images(images, {false, 0.3, {0, 0, 0, 0}});
  EXPECT_TRUE(torch::allclose(mixed[1], images[1]));
  EXPECT_TRUE(torch::allclose(mixed[0], 0.3 * images[0] + 0.7 * images[2]));
}

TEST(MixupDraws, BetaHasItsMeanAndVariance) {
  for (const double alpha : {0.8, 1.0, 2.5}) {
    data::Rng rng(7);
    const int n = 40000;
    double sum = 0, sum_sq = 0;
    for (int i = 0; i < n; ++i) {
      const double x = data::beta_draw(rng, alpha, alpha);
      ASSERT_TRUE(x >= 0 && x <= 1);
      sum += x;
      sum_sq += x * x;
    }
    const double mean = sum / n, variance = sum_sq / n - mean * mean;
    EXPECT_NEAR(mean, 0.5, 0.01) << alpha;
    EXPECT_NEAR(variance, 1.0 / (4 * (2 * alpha + 1)), 0.004) << alpha;  // ab / ((a+b)^2 (a+b+1))
  }
  data::Rng rng(3);
  double sum = 0;
  for (int i = 0; i < 40000; ++i) sum += data::beta_draw(rng, 2.0, 6.0);
  EXPECT_NEAR(sum / 40000, 0.25, 0.005);  // a / (a + b)
}

TEST(MixupDraws, SwitchProbabilityPicksCutmixAndProbSkipsBatches) {
  data::Rng rng(11);
  int cutmix = 0, untouched = 0;
  const auto options = data::MixupOptions().prob(0.8).switch_prob(0.5);
  for (int i = 0; i < 10000; ++i) {
    const auto draw = data::draw_mixup(options, rng, 224, 224);
    if (draw.lam == 1.0) {
      ++untouched;
    } else if (draw.cutmix) {
      ++cutmix;
      EXPECT_LE(draw.box.top + draw.box.height, 224);
      EXPECT_NEAR(draw.lam, 1.0 - draw.box.height * draw.box.width / (224.0 * 224.0), 1e-12);
    }
  }
  EXPECT_NEAR(untouched / 10000.0, 0.2, 0.015);
  EXPECT_NEAR(cutmix / 10000.0, 0.4, 0.015);
  const auto only_cutmix = data::MixupOptions().mixup_alpha(0);
  const auto only_mixup = data::MixupOptions().cutmix_alpha(0);
  for (int i = 0; i < 100; ++i) {
    EXPECT_TRUE(data::draw_mixup(only_cutmix, rng, 8, 8).cutmix);
    EXPECT_FALSE(data::draw_mixup(only_mixup, rng, 8, 8).cutmix);
  }
}

TEST(MixupDraws, SameSeedSameDraw) {
  data::Rng a(5), b(5);
  const auto x = data::draw_mixup({}, a, 32, 32), y = data::draw_mixup({}, b, 32, 32);
  EXPECT_EQ(x.cutmix, y.cutmix);
  EXPECT_EQ(x.lam, y.lam);
  EXPECT_EQ(x.box.top, y.box.top);
  EXPECT_EQ(x.box.width, y.box.width);
}

TEST(MixupOptions, BadValuesNameTheirOption) {
  const auto key_of = [](const data::MixupOptions& o) {
    try {
      data::check_mixup_options(o);
    } catch (const lowbit::OptionError& e) {
      return e.key_path();
    }
    return std::string("(no error)");
  };
  EXPECT_EQ(key_of({}), "(no error)");
  EXPECT_EQ(key_of(data::MixupOptions().mixup_alpha(-1)), "mixup_alpha");
  EXPECT_EQ(key_of(data::MixupOptions().mixup_alpha(0).cutmix_alpha(0)), "mixup_alpha");
  EXPECT_EQ(key_of(data::MixupOptions().prob(1.5)), "prob");
  EXPECT_EQ(key_of(data::MixupOptions().switch_prob(-0.1)), "switch_prob");
  EXPECT_EQ(key_of(data::MixupOptions().label_smoothing(1)), "label_smoothing");
}
