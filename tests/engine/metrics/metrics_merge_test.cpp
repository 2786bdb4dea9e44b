// Data-parallel evaluation of the built-in metrics: the batches of a test split are dealt to replicas
// (threads forming an in-memory group), each replica updates its metrics with its share, merges,
// and computes; every replica must then report what one process reports over all the batches.
// Counts and detection records travel exactly, so accuracy, coco_bbox and voc_ap are equal to the
// last bit; the loss's sum only changes its order of addition.
#include <lowbit/csrc/engine/metrics/detection.h>

#include "support/error_of.h"
#include "support/thread_replicas.h"

#include <gtest/gtest.h>

#include <torch/torch.h>

#include <random>

namespace {

using lowbit::engine::Batch;
using lowbit::engine::MetricValues;
using lowbit::engine::Outputs;

struct Evaluated {
  Batch batch;
  Outputs outputs;
};

// Who evaluates each batch: owner[i] is the rank of batch i.
struct Deal {
  int64_t world;
  std::vector<int64_t> owner;
};

// Six batches: equal and unequal shares, interleaved and contiguous, and a replica without a batch.
const std::vector<Deal>& deals() {
  static const std::vector<Deal> d{{2, {0, 1, 0, 1, 0, 1}},
                                   {2, {0, 0, 0, 0, 0, 1}},
                                   {3, {0, 0, 2, 2, 2, 2}},
                                   {3, {2, 0, 1, 1, 0, 1}}};
  return d;
}

using MakeMetrics = std::function<std::unique_ptr<lowbit::engine::MetricList>()>;

MetricValues one_process(const MakeMetrics& make, const std::vector<Evaluated>& split) {
  auto metrics = make();
  for (const auto& e : split) metrics->update(e.batch, e.outputs);
  return metrics->compute();
}

// Each replica's values after update with its share, merge and compute.
std::vector<MetricValues> data_parallel(const MakeMetrics& make, const std::vector<Evaluated>& split, const Deal& deal) {
  std::vector<MetricValues> values(deal.world);
  lowbit::testing::run_replicas(deal.world, [&](int64_t rank) {
    auto metrics = make();
    for (size_t i = 0; i < split.size(); ++i) {
      if (deal.owner[i] == rank) metrics->update(split[i].batch, split[i].outputs);
    }
    metrics->merge(*lowbit::hooks::replicas(), "metrics");
    values[rank] = metrics->compute();
  });
  return values;
}

// Every deal, every replica: the names of `expected`, each value within `tolerance` (relative).
void expect_every_replica_reports(const MakeMetrics& make, const std::vector<Evaluated>& split, double tolerance) {
  const auto expected = one_process(make, split);
  for (const auto& deal : deals()) {
    const auto replicas = data_parallel(make, split, deal);
    for (int64_t rank = 0; rank < deal.world; ++rank) {
      SCOPED_TRACE("world " + std::to_string(deal.world) + ", deal " + ::testing::PrintToString(deal.owner) +
                   ", rank " + std::to_string(rank));
      ASSERT_EQ(replicas[rank].size(), expected.size());
      for (size_t v = 0; v < expected.size(); ++v) {
        EXPECT_EQ(replicas[rank][v].first, expected[v].first);
        if (tolerance == 0) {
          EXPECT_EQ(replicas[rank][v].second, expected[v].second) << expected[v].first;
        } else {
          EXPECT_NEAR(replicas[rank][v].second, expected[v].second, tolerance * std::abs(expected[v].second))
              << expected[v].first;
        }
      }
    }
  }
}

// Six batches of 4, 3, 1, 5, 2 and 6 samples over 5 classes, random logits.
std::vector<Evaluated> classification_split() {
  torch::manual_seed(7);
  std::vector<Evaluated> split;
  for (const int64_t n : {4, 3, 1, 5, 2, 6}) {
    Evaluated e;
    e.batch.labels = torch::randint(0, 5, {n}, torch::kLong);
    e.outputs["logits"] = torch::randn({n, 5});
    split.push_back(std::move(e));
  }
  return split;
}

// Six batches of 3, 1, 2, 4, 2 and 3 images (ids beyond 2^53, so that any trip through a double
// would round them) over categories 1, 3 and 7; per image 0 to 3 objects of every size, some crowd
// (VOC: difficult), and 5 predictions: the objects' boxes jittered (one in five with a wrong label),
// then random boxes; scores uniform, so no two tie.
std::vector<Evaluated> detection_split() {
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  const int64_t first_image = (int64_t{1} << 53) + 1, queries = 5;
  int64_t image_id = first_image;
  std::vector<Evaluated> split;
  for (const int64_t images : {3, 1, 2, 4, 2, 3}) {
    Evaluated e;
    std::vector<float> boxes, scores;
    std::vector<int64_t> labels;
    for (int64_t i = 0; i < images; ++i, ++image_id) {
      const int64_t objects = static_cast<int64_t>(unit(rng) * 4);
      std::vector<float> gt_boxes, gt_area;
      std::vector<int64_t> gt_labels;
      std::vector<uint8_t> gt_iscrowd;
      for (int64_t a = 0; a < objects; ++a) {
        const float x = 200 * unit(rng), y = 200 * unit(rng), w = 4 + 146 * unit(rng), h = 4 + 146 * unit(rng);
        gt_boxes.insert(gt_boxes.end(), {x, y, w, h});
        gt_area.push_back(0.8f * w * h);
        gt_labels.push_back(static_cast<int64_t>(unit(rng) * 3));
        gt_iscrowd.push_back(unit(rng) < 0.1f);
      }
      for (int64_t q = 0; q < queries; ++q) {
        if (q < objects) {
          const float* b = &gt_boxes[4 * q];
          const float jitter = 0.3f * b[2] * (unit(rng) - 0.5f);
          boxes.insert(boxes.end(), {b[0] + jitter, b[1] - jitter, b[0] + b[2] + jitter, b[1] + b[3]});
          labels.push_back(unit(rng) < 0.2f ? (gt_labels[q] + 1) % 3 : gt_labels[q]);
        } else {
          const float x = 250 * unit(rng), y = 250 * unit(rng);
          boxes.insert(boxes.end(), {x, y, x + 4 + 100 * unit(rng), y + 4 + 100 * unit(rng)});
          labels.push_back(static_cast<int64_t>(unit(rng) * 3));
        }
        scores.push_back(unit(rng));
      }
      e.batch.targets.push_back({{"image_id", torch::tensor(image_id)},
                                 {"gt_boxes", torch::tensor(gt_boxes).reshape({objects, 4})},
                                 {"gt_labels", torch::tensor(gt_labels, torch::kLong)},
                                 {"gt_area", torch::tensor(gt_area)},
                                 {"gt_iscrowd", torch::tensor(gt_iscrowd).to(torch::kBool)}});
    }
    e.batch.images = torch::zeros({images, 3, 4, 4});
    e.batch.meta["category_ids"] = torch::tensor(std::vector<int64_t>{1, 3, 7});
    e.outputs = {{"boxes", torch::tensor(boxes).reshape({images, queries, 4})},
                 {"scores", torch::tensor(scores).reshape({images, queries})},
                 {"labels", torch::tensor(labels, torch::kLong).reshape({images, queries})}};
    split.push_back(std::move(e));
  }
  return split;
}

MakeMetrics metrics_named(std::vector<lowbit::engine::MetricSpec> specs) {
  return [specs] { return lowbit::engine::make_metrics(specs); };
}

// A user's metric that does not implement merge.
class SampleCount : public lowbit::engine::Metric {
 public:
  void reset() override { samples_ = 0; }
  void update(const Batch& batch, const Outputs&) override { samples_ += batch.labels.size(0); }
  MetricValues compute() override { return {{"samples", static_cast<double>(samples_)}}; }

 private:
  int64_t samples_ = 0;
};

}  // namespace

TEST(MetricMerge, LossAndAccuracyOverEveryReplicaAreThoseOfOneProcess) {
  const auto split = classification_split();
  const auto make = metrics_named({{"loss", {}}, {"accuracy", {{"topk", std::vector<int64_t>{1, 2}}}}});
  const auto expected = one_process(make, split);
  ASSERT_EQ(expected.size(), 3u);
  EXPECT_GT(expected[1].second, 0.0) << "top1: a split where some samples are hits and some are not";
  EXPECT_LT(expected[1].second, 100.0);
  expect_every_replica_reports(make, split, 1e-12);
}

TEST(MetricMerge, AccuracyCountsAreExact) {
  expect_every_replica_reports(metrics_named({{"accuracy", {{"topk", std::vector<int64_t>{1, 3}}}}}),
                               classification_split(), 0);
}

TEST(MetricMerge, CocoBboxOverEveryReplicaIsThatOfOneProcess) {
  const auto split = detection_split();
  const auto make = metrics_named({{"coco_bbox", {}}});
  const auto expected = one_process(make, split);
  ASSERT_EQ(expected.size(), 12u);
  for (const size_t i : {0, 1, 8}) {  // AP, AP50, AR100: a split neither all found nor all missed
    EXPECT_GT(expected[i].second, 0.0) << expected[i].first;
    EXPECT_LT(expected[i].second, 1.0) << expected[i].first;
  }
  expect_every_replica_reports(make, split, 0);
}

TEST(MetricMerge, VocApOverEveryReplicaIsThatOfOneProcess) {
  const auto split = detection_split();
  for (const std::string form : {"11point", "area"}) {
    SCOPED_TRACE(form);
    const auto make = metrics_named({{"voc_ap", {{"form", form}}}});
    const auto expected = one_process(make, split);
    ASSERT_EQ(expected.size(), 1u);
    EXPECT_GT(expected[0].second, 0.0);
    EXPECT_LT(expected[0].second, 1.0);
    expect_every_replica_reports(make, split, 0);
  }
}

TEST(MetricMerge, AnImageOfTwoReplicasIsAnErrorNamingIt) {
  const auto split = detection_split();
  const auto first_image = split[0].batch.targets[0].at("image_id").item<int64_t>();
  for (const std::string name : {"coco_bbox", "voc_ap"}) {
    // Batch 0 on both replicas, batch 1 on replica 1 only.
    std::vector<std::string> errors(2);
    lowbit::testing::run_replicas(2, [&](int64_t rank) {
      auto metric = lowbit::engine::make_metric(name);
      metric->update(split[0].batch, split[0].outputs);
      if (rank == 1) metric->update(split[1].batch, split[1].outputs);
      errors[rank] = lowbit::testing::error_of([&] { metric->merge(*lowbit::hooks::replicas(), name); });
    });
    const auto expected = "metric '" + name + "': image_id " + std::to_string(first_image) +
                          " was evaluated by replicas 0 and 1 (their shares of the data set overlap?)";
    EXPECT_EQ(errors[0], expected);
    EXPECT_EQ(errors[1], expected);
  }
}

TEST(MetricMerge, AnImageMergedFromAnotherReplicaCannotBeAddedAgain) {
  const auto split = detection_split();
  std::vector<std::string> errors(2);
  lowbit::testing::run_replicas(2, [&](int64_t rank) {
    auto metric = lowbit::engine::make_metric("coco_bbox");
    metric->update(split[rank].batch, split[rank].outputs);
    metric->merge(*lowbit::hooks::replicas(), "coco_bbox");
    const auto& other = split[1 - rank];
    errors[rank] = lowbit::testing::error_of([&] { metric->update(other.batch, other.outputs); });
  });
  for (int64_t rank = 0; rank < 2; ++rank) {
    const auto other_image = split[1 - rank].batch.targets[0].at("image_id").item<int64_t>();
    EXPECT_EQ(errors[rank], "metric 'coco_bbox': image_id " + std::to_string(other_image) +
                                " was evaluated twice (the data set lists it twice?)");
  }
}

TEST(MetricMerge, AUserMetricWithoutMergeIsAnErrorNamingIt) {
  // loss merges first (its collective on both replicas), then sample_count throws on both.
  std::vector<std::string> errors(2);
  lowbit::testing::run_replicas(2, [&](int64_t rank) {
    std::vector<std::unique_ptr<lowbit::engine::Metric>> metrics;
    metrics.push_back(lowbit::engine::make_metric("loss"));
    metrics.push_back(std::make_unique<SampleCount>());
    lowbit::engine::MetricList list(std::move(metrics), {"loss", "sample_count"});
    errors[rank] = lowbit::testing::error_of([&] { list.merge(*lowbit::hooks::replicas(), "metrics"); });
  });
  const std::string expected =
      "metric 'sample_count' cannot be evaluated data-parallel: it does not implement Metric::merge";
  EXPECT_EQ(errors[0], expected);
  EXPECT_EQ(errors[1], expected);
}
