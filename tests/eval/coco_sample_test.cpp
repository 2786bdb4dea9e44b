// The COCO evaluator against pycocotools on the COCO sample of ../shared/data: three prediction
// sets made by the generator below, which tests/eval/make_coco_reference.py writes out formula for
// formula in Python; that script ran pycocotools' COCOeval on the same sets and committed its 12
// numbers to coco_sample_reference.h (with the pycocotools version). The sets cover crowd
// annotations (predicted as well), an image with annotations but no predictions, images without
// annotations, score ties, and all area ranges and maxDets (the cut at 100 per image and category
// is tested in coco_eval_test.cpp). Each set is evaluated in memory (with 1 and 3 threads), from
// a results JSON file, and by `lowbit cocoeval`.
#include <lowbit/csrc/eval/coco_eval.h>
#include <lowbit/csrc/eval/coco_json.h>

#include "eval/coco_sample_reference.h"
#include "support/coco_sample.h"
#include "support/run_cli.h"
#include "support/temp_dir.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cmath>

namespace {

using lowbit::eval::CocoAnnotation;
using lowbit::eval::CocoBox;
using lowbit::eval::CocoDetection;
using lowbit::eval::CocoGroundTruth;
namespace reference = lowbit::testing::coco_reference;

// splitmix64 (Steele, Lea, Flood 2014); uniform() = top 53 bits / 2^53, as the Python script.
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double uniform() { return static_cast<double>(next() >> 11) * (1.0 / 9007199254740992.0); }
  size_t below(size_t n) { return static_cast<size_t>(std::floor(uniform() * static_cast<double>(n))); }

 private:
  uint64_t state_;
};

// The draws in the script's order (Python evaluates left to right; C++ arguments would not).
CocoBox jitter(SplitMix64& rng, const CocoAnnotation& a) {
  const auto [x, y, w, h] = a.bbox;
  const double nx = x + (rng.uniform() - 0.5) * 0.3 * w;
  const double ny = y + (rng.uniform() - 0.5) * 0.3 * h;
  const double nw = w * (0.7 + 0.6 * rng.uniform());
  const double nh = h * (0.7 + 0.6 * rng.uniform());
  return {nx, ny, nw, nh};
}

std::vector<CocoDetection> ground_truth_set(const CocoGroundTruth& truth) {
  std::vector<CocoDetection> out;
  for (const auto& a : truth.annotations) {
    if (a.image_id != reference::kImageWithoutPredictions) out.push_back({a.image_id, a.category_id, a.bbox, 1.0});
  }
  return out;
}

std::vector<int64_t> sorted_categories(const CocoGroundTruth& truth) {
  auto ids = truth.category_ids;
  std::sort(ids.begin(), ids.end());
  return ids;
}

std::vector<CocoDetection> jittered_set(const CocoGroundTruth& truth) {
  const auto categories = sorted_categories(truth);
  SplitMix64 rng(1);
  std::vector<CocoDetection> out;
  for (const auto& a : truth.annotations) {
    if (a.image_id == reference::kImageWithoutPredictions) continue;
    const auto box = jitter(rng, a);
    out.push_back({a.image_id, a.category_id, box, std::floor(rng.uniform() * 50) / 50});
    if (rng.uniform() < 0.3) {
      const auto worse = jitter(rng, a);
      out.push_back({a.image_id, a.category_id, worse, 0.5 * rng.uniform()});
    }
    if (rng.uniform() < 0.2) {
      const int64_t category = categories[rng.below(categories.size())];
      const auto moved = jitter(rng, a);
      out.push_back({a.image_id, category, moved, rng.uniform()});
    }
  }
  return out;
}

// One detection of the random set on an image with `annotations`.
CocoDetection random_detection(SplitMix64& rng, int64_t image_id, const std::vector<CocoAnnotation>& annotations,
                               const std::vector<int64_t>& categories) {
  CocoDetection d{image_id, 0, {}, 0};
  if (!annotations.empty() && rng.uniform() < 0.5) {
    const auto& a = annotations[rng.below(annotations.size())];
    const auto [x, y, w, h] = a.bbox;
    d.bbox[0] = x + (rng.uniform() - 0.5) * w;
    d.bbox[1] = y + (rng.uniform() - 0.5) * h;
    d.bbox[2] = w * (0.5 + rng.uniform());
    d.bbox[3] = h * (0.5 + rng.uniform());
    d.category_id = rng.uniform() < 0.8 ? a.category_id : categories[rng.below(categories.size())];
  } else {
    const double x = rng.uniform() * 600, y = rng.uniform() * 400;
    const double u = rng.uniform(), v = rng.uniform();
    d.bbox = {x, y, 2 + u * u * 300, 2 + v * v * 300};
    d.category_id = categories[rng.below(categories.size())];
  }
  d.score = rng.uniform();
  return d;
}

std::vector<CocoDetection> random_set(const CocoGroundTruth& truth) {
  const auto categories = sorted_categories(truth);
  SplitMix64 rng(2);
  std::vector<CocoDetection> out;
  for (const int64_t image_id : truth.image_ids) {
    if (image_id == reference::kImageWithoutPredictions) continue;
    std::vector<CocoAnnotation> annotations;
    for (const auto& a : truth.annotations) {
      if (a.image_id == image_id) annotations.push_back(a);
    }
    for (size_t n = rng.below(130); n > 0; --n) out.push_back(random_detection(rng, image_id, annotations, categories));
  }
  return out;
}

// The detections as a COCO results file (nlohmann writes doubles that read back exactly).
std::string write_results(const lowbit::testing::TempDir& dir, const std::vector<CocoDetection>& detections) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& d : detections) {
    list.push_back({{"image_id", d.image_id}, {"category_id", d.category_id}, {"bbox", d.bbox}, {"score", d.score}});
  }
  dir.write("results.json", list.dump());
  return dir.file("results.json");
}

class CocoSampleEval : public lowbit::testing::CocoSampleTest,
                       public ::testing::WithParamInterface<reference::PredictionSet> {};

std::vector<CocoDetection> make_set(const CocoGroundTruth& truth, const std::string& name) {
  if (name == "ground_truth") return ground_truth_set(truth);
  if (name == "jittered") return jittered_set(truth);
  return random_set(truth);
}

}  // namespace

TEST_P(CocoSampleEval, TwelveNumbersEqualPycocotools) {
  const auto& expected = GetParam();
  const auto truth = lowbit::eval::read_coco_ground_truth(lowbit::testing::coco_sample_annotations());
  ASSERT_EQ(truth.image_ids.size(), 188u);
  const auto detections = make_set(truth, expected.name);
  ASSERT_EQ(detections.size(), expected.detections) << "the generator no longer makes the script's set";
  double box_sum = 0;
  for (const auto& d : detections) {
    for (const double v : d.bbox) box_sum += v;
  }
  ASSERT_EQ(box_sum, expected.box_sum) << "the generator no longer makes the script's boxes";

  const auto names = lowbit::eval::coco_stat_names();
  for (const int threads : {1, 3}) {
    const auto stats = lowbit::eval::evaluate_coco(truth, detections, {threads}).stats;
    for (size_t i = 0; i < lowbit::eval::kCocoStats; ++i) {
      EXPECT_NEAR(stats[i], expected.stats[i], 1e-12) << names[i] << " with " << threads << " threads";
    }
  }
  lowbit::testing::TempDir dir;
  const auto from_file = lowbit::eval::read_coco_results(write_results(dir, detections), truth);
  const auto stats = lowbit::eval::evaluate_coco(truth, from_file).stats;
  for (size_t i = 0; i < lowbit::eval::kCocoStats; ++i) EXPECT_NEAR(stats[i], expected.stats[i], 1e-12) << names[i];

  const auto cli = lowbit::testing::run_cli({"cocoeval", lowbit::testing::coco_sample_annotations(), dir.file("results.json")});
  EXPECT_EQ(cli.status, 0) << cli.output;
  EXPECT_EQ(cli.output, lowbit::eval::format_coco_summary(expected.stats));
}

INSTANTIATE_TEST_SUITE_P(CocoSample, CocoSampleEval,
                         ::testing::Values(reference::kGroundTruth, reference::kJittered, reference::kRandom),
                         [](const auto& info) { return std::string(info.param.name); });
