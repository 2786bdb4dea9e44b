// The classification metrics by name: values on batches small enough to count by hand, and the
// errors of a bad option or a value reported twice.
#include <lowbit/csrc/engine/metrics/metric.h>

#include "support/error_of.h"

#include <gtest/gtest.h>

#include <torch/torch.h>

namespace {

lowbit::engine::Batch labelled(std::vector<int64_t> labels) {
  lowbit::engine::Batch batch;
  batch.labels = torch::tensor(labels, torch::kLong);
  return batch;
}

}  // namespace

TEST(AccuracyMetric, CountsTopKOverBatches) {
  auto metric = lowbit::engine::make_metric("accuracy", {{"topk", std::vector<int64_t>{1, 2}}});
  // Batch 1: sample 0's label is the top class, sample 1's the second: top1 1/2, top2 2/2.
  metric->update(labelled({2, 0}), {{"logits", torch::tensor({{0.1, 0.2, 0.9}, {0.5, 0.1, 0.7}})}});
  // Batch 2: the label is third: neither.
  metric->update(labelled({0}), {{"logits", torch::tensor({{0.1, 0.2, 0.9}})}});
  const auto values = metric->compute();
  ASSERT_EQ(values.size(), 2u);
  EXPECT_EQ(values[0].first, "top1");
  EXPECT_DOUBLE_EQ(values[0].second, 100.0 / 3);
  EXPECT_EQ(values[1].first, "top2");
  EXPECT_DOUBLE_EQ(values[1].second, 200.0 / 3);
  metric->reset();
  metric->update(labelled({1}), {{"logits", torch::tensor({{0.0, 1.0, 0.0}})}});
  EXPECT_DOUBLE_EQ(metric->compute()[0].second, 100.0);
}

TEST(LossMetric, IsTheMeanCrossEntropyOverSamples) {
  auto metric = lowbit::engine::make_metric("loss");
  const auto a = torch::randn({3, 4}), b = torch::randn({1, 4});
  const auto la = torch::tensor({0, 1, 3}), lb = torch::tensor({2});
  metric->update(labelled({0, 1, 3}), {{"logits", a}});
  metric->update(labelled({2}), {{"logits", b}});
  const auto expected = torch::nn::functional::cross_entropy(torch::cat({a, b}), torch::cat({la, lb}));
  EXPECT_NEAR(metric->compute().at(0).second, expected.item<double>(), 1e-6);
}

TEST(Metrics, ErrorsNameTheMetricAndOption) {
  using lowbit::testing::error_of;
  EXPECT_NE(error_of([] { lowbit::engine::make_metric("acuracy"); }).find("unknown metric 'acuracy' (did you mean 'accuracy'?)"),
            std::string::npos);
  try {
    lowbit::engine::make_metric("accuracy", {{"topk", std::vector<int64_t>{0}}});
    ADD_FAILURE() << "top-0 accepted";
  } catch (const lowbit::OptionError& e) {
    EXPECT_EQ(e.key(), std::vector<std::string>{"topk"});
  }
  auto twice = lowbit::engine::make_metrics({{"loss", {}}, {"loss", {}}});
  twice->update(labelled({0}), {{"logits", torch::zeros({1, 2})}});
  EXPECT_NE(error_of([&] { twice->compute(); }).find("two metrics report 'loss'"), std::string::npos);
  auto missing = lowbit::engine::make_metric("accuracy");
  EXPECT_NE(error_of([&] { missing->update(labelled({0}), {{"scores", torch::zeros({1, 2})}}); })
                .find("metric 'accuracy': the model has no output 'logits' (its outputs: scores)"),
            std::string::npos);
}
