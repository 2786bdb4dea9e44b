#include <lowbit/csrc/data/detection_loader.h>

#include <lowbit/csrc/data/coco.h>
#include <lowbit/csrc/util/files.h>

#include <gtest/gtest.h>

#include <torch/torch.h>

#include "support/coco_sample.h"
#include "support/error_of.h"
#include "support/temp_dir.h"

#include <set>

using namespace lowbit::data;
using lowbit::testing::TempDir;

namespace {

// The first 10 images of the sample (two without annotations are not among them), at small sizes.
class DetectionLoaderOnSample : public lowbit::testing::CocoSampleTest {
 protected:
  void SetUp() override {
    CocoSampleTest::SetUp();
    if (IsSkipped()) return;
    set = read_coco(lowbit::testing::coco_sample_annotations(), lowbit::testing::coco_sample_images());
    set.images.resize(10);
  }

  static DetectionLoaderOptions train_options() {
    const auto sizes = DetrTransformOptions().scales({96, 128}).max_size(160).crop_scales({100}).crop({64, 96});
    return DetectionLoaderOptions([sizes](DetectionSample s, Rng& rng) { return detr_train_transform(std::move(s), rng, sizes); })
        .batching(BatchingOptions().batch_size(4).seed(5));
  }

  DetectionSet set;
};

std::vector<DetectionBatch> detection_epoch(DetectionLoader& loader, int64_t number, int64_t first = 0) {
  loader.start_epoch(number, first);
  std::vector<DetectionBatch> batches;
  while (auto batch = loader.next()) batches.push_back(std::move(*batch));
  return batches;
}

void expect_same_targets(const DetectionTarget& a, const DetectionTarget& b) {
  for (const auto& [x, y] : {std::pair{a.boxes, b.boxes}, {a.labels, b.labels}, {a.image_id, b.image_id},
                             {a.orig_size, b.orig_size}, {a.gt_boxes, b.gt_boxes}, {a.gt_labels, b.gt_labels},
                             {a.gt_area, b.gt_area}, {a.gt_iscrowd, b.gt_iscrowd}}) {
    EXPECT_TRUE(torch::equal(x, y));
  }
}

void expect_same_detection_batches(const std::vector<DetectionBatch>& a, const std::vector<DetectionBatch>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_TRUE(torch::equal(a[i].images, b[i].images)) << "batch " << i;
    EXPECT_TRUE(torch::equal(a[i].mask, b[i].mask)) << "batch " << i;
    EXPECT_TRUE(torch::equal(a[i].image_sizes, b[i].image_sizes)) << "batch " << i;
    ASSERT_EQ(a[i].targets.size(), b[i].targets.size());
    for (size_t k = 0; k < a[i].targets.size(); ++k) expect_same_targets(a[i].targets[k], b[i].targets[k]);
  }
}

}  // namespace

TEST_F(DetectionLoaderOnSample, SameBatchesForOneAndThreeWorkers) {
  DetectionLoader one(set, train_options().batching(BatchingOptions().batch_size(4).seed(5).workers(1).prefetch(1)));
  DetectionLoader three(set, train_options().batching(BatchingOptions().batch_size(4).seed(5).workers(3)));
  const auto first = detection_epoch(one, 0);
  ASSERT_EQ(first.size(), 3u);  // 4 + 4 + 2
  EXPECT_EQ(first[2].images.size(0), 2);
  expect_same_detection_batches(first, detection_epoch(three, 0));
  expect_same_detection_batches(detection_epoch(one, 1), detection_epoch(three, 1));
  DetectionLoader other_seed(set, train_options().batching(BatchingOptions().batch_size(4).seed(6).workers(2)));
  EXPECT_FALSE(torch::equal(detection_epoch(other_seed, 0)[0].images, first[0].images));
}

TEST_F(DetectionLoaderOnSample, ResumingAtBatchKGivesTheRestOfTheEpoch) {
  DetectionLoader loader(set, train_options());
  const auto whole = detection_epoch(loader, 2);
  expect_same_detection_batches(detection_epoch(loader, 2, 1), std::vector<DetectionBatch>(whole.begin() + 1, whole.end()));
  loader.start_epoch(2);
  ASSERT_TRUE(loader.next().has_value());  // abandoned after one batch, then restarted
  expect_same_detection_batches(detection_epoch(loader, 2), whole);
}

TEST_F(DetectionLoaderOnSample, PaddingIsZeroAndMaskedAndTargetsMatchTheImages) {
  DetectionLoader loader(set, train_options());
  std::set<int64_t> ids;
  for (const auto& batch : detection_epoch(loader, 0)) {
    const auto height = batch.images.size(2), width = batch.images.size(3);
    EXPECT_EQ(batch.mask.sizes(), (std::vector<int64_t>{batch.images.size(0), height, width}));
    for (int64_t i = 0; i < batch.images.size(0); ++i) {
      const auto h = static_cast<int64_t>(batch.image_sizes[i][0].item<float>());
      const auto w = static_cast<int64_t>(batch.image_sizes[i][1].item<float>());
      EXPECT_TRUE(h <= 160 && w <= 160 && std::min(h, w) > 0) << h << "x" << w;
      auto inside = torch::zeros({height, width}, torch::kBool);
      inside.narrow(0, 0, h).narrow(1, 0, w).fill_(true);
      EXPECT_TRUE(torch::equal(batch.mask[i], inside.logical_not()));
      EXPECT_EQ(batch.images[i].masked_select(batch.mask[i].expand({3, height, width})).abs().sum().item<float>(), 0);
      const auto& target = batch.targets[static_cast<size_t>(i)];
      EXPECT_TRUE(target.boxes.numel() == 0 || (target.boxes.min().item<float>() >= 0 && target.boxes.max().item<float>() <= 1));
      EXPECT_EQ(target.boxes.size(0), target.labels.size(0));
      ids.insert(target.image_id.item<int64_t>());
    }
  }
  EXPECT_EQ(ids.size(), 10u);  // every image once
}

TEST_F(DetectionLoaderOnSample, EvaluationFieldsAreTheOriginalAnnotations) {
  const auto sizes = DetrTransformOptions().eval_size(96);
  DetectionLoader loader(set, DetectionLoaderOptions([sizes](DetectionSample s, Rng&) {
                                return detr_eval_transform(std::move(s), sizes);
                              }).batching(BatchingOptions().batch_size(10).shuffle(false).workers(2)));
  const auto batches = detection_epoch(loader, 0);
  ASSERT_EQ(batches.size(), 1u);
  for (size_t i = 0; i < set.images.size(); ++i) {
    const auto& image = set.images[i];
    const auto& target = batches[0].targets[i];
    EXPECT_EQ(target.image_id.item<int64_t>(), image.id);
    EXPECT_TRUE(torch::equal(target.orig_size, torch::tensor({image.height, image.width})));
    ASSERT_EQ(target.gt_boxes.size(0), static_cast<int64_t>(image.annotations.size()));
    int64_t crowd = 0;
    for (size_t k = 0; k < image.annotations.size(); ++k) {
      const auto& a = image.annotations[k];
      EXPECT_EQ(target.gt_boxes[static_cast<int64_t>(k)][2].item<float>(), a.box[2]);
      EXPECT_EQ(target.gt_labels[static_cast<int64_t>(k)].item<int64_t>(), a.label);
      crowd += a.ignore;
    }
    EXPECT_EQ(target.labels.size(0) + crowd, static_cast<int64_t>(image.annotations.size()));  // none empty here
    // The shorter side resized to 96.
    EXPECT_EQ(std::min(batches[0].image_sizes[static_cast<int64_t>(i)][0].item<float>(),
                       batches[0].image_sizes[static_cast<int64_t>(i)][1].item<float>()),
              96);
  }
}

TEST_F(DetectionLoaderOnSample, UndecodableJpegIsRaisedNamingItOrSkipped) {
  TempDir dir;
  const auto bytes = lowbit::util::read_file(set.images[0].path);
  dir.write("truncated.jpg", bytes.substr(0, bytes.size() / 3));
  DetectionSet broken = set;
  broken.images.resize(3);
  broken.images[1].path = dir.file("truncated.jpg");
  auto options = train_options().batching(BatchingOptions().batch_size(1).shuffle(false).workers(2));
  DetectionLoader loader(broken, options);
  loader.start_epoch(0);
  ASSERT_TRUE(loader.next().has_value());
  const auto error = lowbit::testing::error_of([&] { loader.next(); });
  EXPECT_NE(error.find(dir.file("truncated.jpg") + ": corrupt or truncated JPEG"), std::string::npos) << error;
  EXPECT_TRUE(loader.next().has_value());  // the epoch goes on

  DetectionLoader skipping(broken, options.skip_corrupt(true));
  EXPECT_EQ(detection_epoch(skipping, 0).size(), 2u);
  ASSERT_EQ(skipping.skipped_corrupt(), 1);
  EXPECT_NE(skipping.skipped_errors()[0].find(dir.file("truncated.jpg")), std::string::npos);
}

TEST_F(DetectionLoaderOnSample, ImageOfAnotherSizeThanAnnotatedIsAnError) {
  DetectionSet wrong = set;
  wrong.images.resize(1);
  wrong.images[0].width += 1;
  DetectionLoader loader(wrong, train_options());
  loader.start_epoch(0);
  const auto error = lowbit::testing::error_of([&] { loader.next(); });
  EXPECT_NE(error.find(wrong.images[0].path + ": the image is 640x426 (width x height), its annotations say 641x426"),
            std::string::npos)
      << error;
}
