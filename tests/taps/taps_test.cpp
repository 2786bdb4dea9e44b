// Taps: qualified names, filtering, separate student/teacher records, errors naming the tap.
#include <lowbit/modules/taps/taps.h>

#include "support/error_of.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace {

using lowbit::testing::error_of;

using lowbit::taps::TapRecord;
using lowbit::taps::TapRecorder;

// Publishes its input times 2 as "double" and its output as "out".
struct PublisherImpl : torch::nn::Cloneable<PublisherImpl> {
  void reset() override {}
  torch::Tensor forward(const torch::Tensor& x) {
    lowbit::taps::publish(*this, "double", x * 2);
    auto y = x + 1;
    lowbit::taps::publish(*this, "out", y);
    return y;
  }
};
TORCH_MODULE(Publisher);

torch::nn::Sequential two_publishers() { return torch::nn::Sequential(Publisher(), torch::nn::ReLU(), Publisher()); }

TEST(Taps, RecordsUnderQualifiedNamesInOrder) {
  auto model = two_publishers();
  TapRecord record;
  {
    TapRecorder recorder(*model, record);
    model->forward(torch::ones({2}));
  }
  EXPECT_EQ(record.names(), (std::vector<std::string>{"0.double", "0.out", "2.double", "2.out"}));
  EXPECT_TRUE(torch::equal(record.at("2.double"), torch::full({2}, 4.0)));
  EXPECT_EQ(record.names(R"(\.out$)"), (std::vector<std::string>{"0.out", "2.out"}));
}

TEST(Taps, PatternsKeepOnlyMatchingTaps) {
  auto model = two_publishers();
  TapRecord record;
  TapRecorder recorder(*model, record, {"^2\\."});
  model->forward(torch::ones({2}));
  EXPECT_EQ(record.names(), (std::vector<std::string>{"2.double", "2.out"}));
}

TEST(Taps, NothingIsRecordedWithoutARecorder) {
  auto model = two_publishers();
  EXPECT_FALSE(lowbit::taps::recording());
  TapRecord record;
  model->forward(torch::ones({2}));
  {
    TapRecorder recorder(*model, record);
    EXPECT_TRUE(lowbit::taps::recording());
  }
  EXPECT_FALSE(lowbit::taps::recording());
  EXPECT_EQ(record.size(), 0u);
}

TEST(Taps, StudentAndTeacherRecordSeparately) {
  auto student = two_publishers(), teacher = two_publishers();
  TapRecord s, t;
  TapRecorder rs(*student, s), rt(*teacher, t);
  student->forward(torch::ones({1}));
  teacher->forward(torch::zeros({1}));
  ASSERT_EQ(s.size(), 4u);
  ASSERT_EQ(t.size(), 4u);
  EXPECT_EQ(s.at("0.out").item<float>(), 2.0f);
  EXPECT_EQ(t.at("0.out").item<float>(), 1.0f);
}

TEST(Taps, RootModuleTapsHaveNoPrefix) {
  Publisher root;
  TapRecord record;
  TapRecorder recorder(*root, record);
  root->forward(torch::zeros({1}));
  EXPECT_TRUE(record.contains("out"));
}

TEST(Taps, GradientsFlowThroughRecordedTensors) {
  auto model = two_publishers();
  TapRecord record;
  auto x = torch::ones({3}, torch::requires_grad());
  {
    TapRecorder recorder(*model, record);
    model->forward(x);
  }
  record.at("0.double").sum().backward();
  EXPECT_TRUE(torch::equal(x.grad(), torch::full({3}, 2.0)));
}

TEST(Taps, MissingTapNamesItAndSuggests) {
  auto model = two_publishers();
  TapRecord record;
  TapRecorder recorder(*model, record);
  model->forward(torch::ones({1}));
  const auto msg = error_of([&] { record.at("2.dubble"); });
  EXPECT_NE(msg.find("missing tap '2.dubble'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("did you mean '2.double'"), std::string::npos) << msg;
}

TEST(Taps, PublishingTwiceIntoOneRecordIsAnError) {
  auto model = two_publishers();
  TapRecord record;
  TapRecorder recorder(*model, record);
  model->forward(torch::ones({1}));
  const auto msg = error_of([&] { model->forward(torch::ones({1})); });
  EXPECT_NE(msg.find("tap '0.double' was published twice"), std::string::npos) << msg;
  record.clear();
  model->forward(torch::ones({1}));
  EXPECT_EQ(record.size(), 4u);
}

// A module run several times in one forward (a head shared by FPN levels): numbered repeats.
TEST(Taps, RepeatsAreNumberedWhenTheRecorderAsks) {
  auto model = two_publishers();
  TapRecord record;
  TapRecorder recorder(*model, record, {}, /*number_repeats=*/true);
  model->forward(torch::ones({1}));
  model->forward(torch::full({1}, 2.0));
  model->forward(torch::full({1}, 3.0));
  EXPECT_EQ(record.size(), 12u);
  ASSERT_TRUE(record.contains("0.double#2"));
  EXPECT_EQ(record.at("0.double").item<float>() * 3, record.at("0.double#2").item<float>());
  EXPECT_FALSE(record.contains("0.double#3"));
}

}  // namespace
