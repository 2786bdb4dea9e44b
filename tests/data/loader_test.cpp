#include <lowbit/csrc/data/loader.h>

#include <lowbit/csrc/data/imagenet_pipelines.h>

#include <gtest/gtest.h>

#include <torch/torch.h>

#include "support/imagenet_sample.h"
#include "support/temp_dir.h"

#include <lowbit/csrc/util/files.h>

using namespace lowbit::data;
using lowbit::testing::TempDir;

namespace {

// Ten of the sample's images (classes 0, 100, ..., 900), trained at 64 x 64 to stay quick.
class LoaderOnSample : public lowbit::testing::ImagenetSampleTest {
 protected:
  void SetUp() override {
    ImagenetSampleTest::SetUp();
    if (IsSkipped()) return;
    const auto folder = scan_image_folder(lowbit::testing::imagenet_sample_images());
    for (size_t i = 0; i < folder.samples.size(); i += 100) samples.push_back(folder.samples[i]);
  }

  static LoaderOptions options() {
    return LoaderOptions([](const at::Tensor& image, Rng& rng) { return train_pipeline(image, rng, 64, {}); })
        .batch_size(4)
        .seed(42);
  }

  std::vector<ImageSample> samples;
};

std::vector<Batch> epoch(ImageFolderLoader& loader, int64_t number) {
  loader.start_epoch(number);
  std::vector<Batch> batches;
  while (auto batch = loader.next()) batches.push_back(*batch);
  return batches;
}

void expect_equal(const std::vector<Batch>& a, const std::vector<Batch>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_TRUE(torch::equal(a[i].labels, b[i].labels)) << "batch " << i;
    EXPECT_TRUE(torch::equal(a[i].images, b[i].images)) << "batch " << i;
  }
}

std::vector<int64_t> labels_of(const std::vector<Batch>& batches) {
  std::vector<int64_t> labels;
  for (const auto& b : batches) {
    for (int64_t i = 0; i < b.labels.size(0); ++i) labels.push_back(b.labels[i].item<int64_t>());
  }
  return labels;
}

// A truncated copy of a real JPEG and a PNG signature under a .JPEG name, in `dir`.
std::vector<ImageSample> corrupt_samples(const TempDir& dir, const std::string& real_jpeg) {
  const auto bytes = lowbit::util::read_file(real_jpeg);
  dir.write("truncated.JPEG", bytes.substr(0, bytes.size() / 3));
  dir.write("png.JPEG", std::string("\x89PNG\r\n\x1a\n", 8) + std::string(100, '\0'));
  return {{dir.file("truncated.JPEG"), 7}, {dir.file("png.JPEG"), 8}};
}

}  // namespace

TEST_F(LoaderOnSample, SameSeedGivesIdenticalBatchesWithOneOrTwoWorkers) {
  ImageFolderLoader one(samples, options().workers(1).prefetch(1));
  ImageFolderLoader two(samples, options().workers(2));
  const auto first = epoch(one, 0);
  ASSERT_EQ(first.size(), 3u);  // 4 + 4 + 2
  EXPECT_EQ(first[0].images.sizes(), (std::vector<int64_t>{4, 3, 64, 64}));
  EXPECT_EQ(first[0].images.scalar_type(), torch::kFloat);
  EXPECT_EQ(first[2].labels.sizes(), (std::vector<int64_t>{2}));
  EXPECT_EQ(first[0].labels.scalar_type(), torch::kLong);
  expect_equal(first, epoch(two, 0));
  expect_equal(epoch(one, 1), epoch(two, 1));

  auto labels = labels_of(first);
  EXPECT_NE(labels, labels_of(epoch(one, 1)));  // each epoch its own order
  std::sort(labels.begin(), labels.end());
  EXPECT_EQ(labels, (std::vector<int64_t>{0, 100, 200, 300, 400, 500, 600, 700, 800, 900}));
}

TEST_F(LoaderOnSample, OrderAndAugmentationDependOnSeedAndEpochOnly) {
  ImageFolderLoader loader(samples, options().workers(2));
  loader.start_epoch(3);
  ASSERT_TRUE(loader.next().has_value());  // abandon epoch 3 after one batch ...
  const auto again = epoch(loader, 3);     // ... and restart it
  ImageFolderLoader fresh(samples, options().workers(1));
  expect_equal(again, epoch(fresh, 3));
  ImageFolderLoader other_seed(samples, options().workers(1).seed(43));
  EXPECT_NE(labels_of(epoch(other_seed, 3)), labels_of(again));
}

TEST_F(LoaderOnSample, StartingMidEpochGivesTheRestOfThatEpoch) {
  ImageFolderLoader loader(samples, options().workers(2));
  const auto whole = epoch(loader, 3);
  loader.start_epoch(3, 1);  // a run resumed after the first batch
  std::vector<Batch> rest;
  while (auto batch = loader.next()) rest.push_back(*batch);
  expect_equal(std::vector<Batch>(whole.begin() + 1, whole.end()), rest);
  EXPECT_THROW(loader.start_epoch(3, 4), c10::Error);  // past the 3 batches
}

TEST_F(LoaderOnSample, WithoutShuffleBatchesFollowSampleOrder) {
  ImageFolderLoader loader(samples, options().shuffle(false).drop_last(true));
  const auto batches = epoch(loader, 5);
  EXPECT_EQ(loader.batches_per_epoch(), 2);
  EXPECT_EQ(labels_of(batches), (std::vector<int64_t>{0, 100, 200, 300, 400, 500, 600, 700}));
}

TEST_F(LoaderOnSample, CorruptFileIsRaisedInTheConsumerNamingIt) {
  TempDir dir;
  auto all = corrupt_samples(dir, samples[0].path);
  all.insert(all.end(), samples.begin(), samples.begin() + 4);
  ImageFolderLoader loader(all, options().shuffle(false).batch_size(1).workers(2));
  loader.start_epoch(0);
  try {
    loader.next();
    FAIL() << "the truncated file decoded";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find(dir.file("truncated.JPEG") + ": corrupt or truncated JPEG"), std::string::npos)
        << e.what();
  }
  try {
    loader.next();
    FAIL() << "the PNG decoded";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find(dir.file("png.JPEG") + ": not a JPEG file"), std::string::npos) << e.what();
  }
  int rest = 0;
  while (loader.next()) ++rest;  // the epoch goes on after an error
  EXPECT_EQ(rest, 4);
}

TEST_F(LoaderOnSample, SkipCorruptLeavesThemOutAndCountsThem) {
  TempDir dir;
  auto all = samples;
  const auto corrupt = corrupt_samples(dir, samples[0].path);
  all.insert(all.begin() + 3, corrupt.begin(), corrupt.end());
  ImageFolderLoader loader(all, options().skip_corrupt(true).workers(2));
  auto labels = labels_of(epoch(loader, 0));
  std::sort(labels.begin(), labels.end());
  EXPECT_EQ(labels, (std::vector<int64_t>{0, 100, 200, 300, 400, 500, 600, 700, 800, 900}));
  ASSERT_EQ(loader.skipped_corrupt(), 2);
  std::string errors;
  for (const auto& e : loader.skipped_errors()) errors += e + "\n";
  EXPECT_NE(errors.find(dir.file("truncated.JPEG") + ": corrupt or truncated JPEG"), std::string::npos) << errors;
  EXPECT_NE(errors.find(dir.file("png.JPEG") + ": not a JPEG file"), std::string::npos) << errors;
  epoch(loader, 1);
  EXPECT_EQ(loader.skipped_corrupt(), 2);  // counted per epoch
}

TEST_F(LoaderOnSample, DestroyedMidEpochShutsDownCleanly) {
  {
    ImageFolderLoader loader(samples, options().batch_size(2).workers(2));
    loader.start_epoch(0);
    ASSERT_TRUE(loader.next().has_value());
  }  // workers busy or waiting on a full window
  {
    ImageFolderLoader loader(samples, options().workers(2));
    loader.start_epoch(0);
  }
  ImageFolderLoader never_started(samples, options().workers(3));
}

TEST(Loader, NextBeforeStartEpochIsAnError) {
  ImageFolderLoader loader({{"/nonexistent/x.JPEG", 0}},
                           LoaderOptions([](const at::Tensor& image, Rng&) { return image; }).workers(1));
  EXPECT_THROW(loader.next(), c10::Error);
}
