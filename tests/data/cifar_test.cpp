#include <lowbit/csrc/data/cifar.h>

#include <gtest/gtest.h>

#include <torch/torch.h>

#include "support/temp_dir.h"

using lowbit::testing::TempDir;
using lowbit::data::CifarVariant;
using lowbit::data::Split;

namespace {

// A record in the official layout: label byte(s), then the R, G and B planes (row-major 32x32).
std::string record(std::vector<unsigned char> labels, unsigned char r, unsigned char g, unsigned char b) {
  std::string out(labels.begin(), labels.end());
  out += std::string(1024, char(r)) + std::string(1024, char(g)) + std::string(1024, char(b));
  out[labels.size()] = char(200);  // pixel (0, 0) of the red plane
  return out;
}

}  // namespace

TEST(Cifar10, ReadsOfficialBinaryLayout) {
  TempDir dir;
  dir.write("test_batch.bin", record({3}, 10, 20, 30) + record({7}, 40, 50, 60));
  const auto set = lowbit::data::load_cifar(dir.path(), Split::Test, CifarVariant::Cifar10);
  EXPECT_EQ(set.images.sizes(), (std::vector<int64_t>{2, 3, 32, 32}));
  EXPECT_TRUE(torch::equal(set.labels, torch::tensor({3, 7}, torch::kLong)));
  EXPECT_EQ(set.images[0][0][0][0].item<int>(), 200);  // first byte of the red plane
  EXPECT_EQ(set.images[0][0][0][1].item<int>(), 10);
  EXPECT_EQ(set.images[1][1][31][31].item<int>(), 50);  // green plane
  EXPECT_EQ(set.images[1][2][5][7].item<int>(), 60);    // blue plane
  EXPECT_EQ(set.num_classes, 10);
}

TEST(Cifar10, TrainSplitConcatenatesFiveBatches) {
  TempDir dir;
  for (int i = 1; i <= 5; ++i) dir.write("data_batch_" + std::to_string(i) + ".bin", record({uint8_t(i)}, 0, 0, 0));
  const auto set = lowbit::data::load_cifar(dir.path(), Split::Train, CifarVariant::Cifar10);
  EXPECT_TRUE(torch::equal(set.labels, torch::tensor({1, 2, 3, 4, 5}, torch::kLong)));
}

TEST(Cifar100, CoarseAndFineLabels) {
  TempDir dir;
  dir.write("train.bin", record({4, 77}, 1, 2, 3));
  EXPECT_EQ(lowbit::data::load_cifar(dir.path(), Split::Train, CifarVariant::Cifar100Fine).labels[0].item<int>(), 77);
  const auto coarse = lowbit::data::load_cifar(dir.path(), Split::Train, CifarVariant::Cifar100Coarse);
  EXPECT_EQ(coarse.labels[0].item<int>(), 4);
  EXPECT_EQ(coarse.num_classes, 20);
}

TEST(Cifar10, TruncatedBatchIsNamed) {
  TempDir dir;
  dir.write("test_batch.bin", record({1}, 0, 0, 0).substr(0, 3000));
  try {
    lowbit::data::load_cifar(dir.path(), Split::Test, CifarVariant::Cifar10);
    FAIL();
  } catch (const c10::Error& e) {
    EXPECT_NE(e.msg().find("test_batch.bin: 3000 bytes is not a whole number of 3073-byte CIFAR-10 records"),
              std::string::npos)
        << e.msg();
  }
}

TEST(Cifar10, MissingBatchIsNamed) {
  TempDir dir;
  EXPECT_THROW(lowbit::data::load_cifar(dir.path(), Split::Test, CifarVariant::Cifar10), c10::Error);
}
