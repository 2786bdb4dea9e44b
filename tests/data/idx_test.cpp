#include <lowbit/csrc/data/idx.h>
#include <lowbit/csrc/data/mnist.h>

#include <gtest/gtest.h>

#include <torch/torch.h>

#include "support/error_of.h"
#include "support/temp_dir.h"

#include <lowbit/csrc/util/files.h>

using lowbit::testing::TempDir;

using lowbit::testing::error_of;

namespace {

// An IDX header: 00 00 type ndims, then big-endian sizes.
std::string header(unsigned char type, std::vector<uint32_t> dims) {
  std::string h = {0, 0, static_cast<char>(type), static_cast<char>(dims.size())};
  for (auto d : dims) h += {char(d >> 24), char(d >> 16), char(d >> 8), char(d)};
  return h;
}

}  // namespace

TEST(Idx, ReadsUint8RawAndGzipAlike) {
  TempDir dir;
  const std::string bytes = header(0x08, {2, 3}) + std::string{1, 2, 3, 4, 5, 6};
  dir.write("a", bytes);
  dir.write("a.gz", bytes, true);
  const auto expected = torch::tensor({{1, 2, 3}, {4, 5, 6}}, torch::kByte);
  EXPECT_TRUE(torch::equal(lowbit::data::read_idx(dir.file("a")), expected));
  EXPECT_TRUE(torch::equal(lowbit::data::read_idx(dir.file("a.gz")), expected));
}

TEST(Idx, MultiByteValuesAreBigEndian) {
  TempDir dir;
  dir.write("s", header(0x0B, {2}) + std::string{0x01, 0x02, char(0xFF), char(0xFE)});
  EXPECT_TRUE(torch::equal(lowbit::data::read_idx(dir.file("s")), torch::tensor({258, -2}, torch::kShort)));
}

TEST(Idx, TruncatedFileNamesFileAndSizes) {
  TempDir dir;
  dir.write("t", header(0x08, {10, 4}) + std::string(7, 'x'));
  const auto msg = error_of([&] { lowbit::data::read_idx(dir.file("t")); });
  EXPECT_NE(msg.find(dir.file("t") + ": header declares shape [10, 4] = 40 bytes of data, but the file holds 7 (truncated)"),
            std::string::npos)
      << msg;
}

TEST(Idx, NotAnIdxFileShowsItsFirstBytes) {
  TempDir dir;
  dir.write("p", "\x89PNG\r\n");
  const auto msg = error_of([&] { lowbit::data::read_idx(dir.file("p")); });
  EXPECT_NE(msg.find("not an IDX file (starts with 89 50 4e 47"), std::string::npos) << msg;
}

TEST(Idx, MissingFileIsNamed) {
  const auto msg = error_of([] { lowbit::data::read_idx("/nonexistent/train-images-idx3-ubyte"); });
  EXPECT_NE(msg.find("/nonexistent/train-images-idx3-ubyte: cannot open (No such file or directory)"), std::string::npos)
      << msg;
}

TEST(Mnist, MismatchedImageAndLabelCountsAreNamed) {
  TempDir dir;
  dir.write("t10k-images-idx3-ubyte", header(0x08, {3, 2, 2}) + std::string(12, 0));
  dir.write("t10k-labels-idx1-ubyte", header(0x08, {2}) + std::string{1, 2});
  const auto msg = error_of([&] { lowbit::data::load_mnist(dir.path(), lowbit::data::Split::Test); });
  EXPECT_NE(msg.find("holds 3 images but"), std::string::npos) << msg;
}

TEST(FashionMnist, DebianPackageLoads) {
  if (!lowbit::util::file_exists(lowbit::data::kFashionMnistRoot)) {
    GTEST_SKIP() << lowbit::data::kFashionMnistRoot << " is absent (Debian package dataset-fashion-mnist)";
  }
  const auto train = lowbit::data::load_mnist(lowbit::data::kFashionMnistRoot, lowbit::data::Split::Train);
  const auto test = lowbit::data::load_mnist(lowbit::data::kFashionMnistRoot, lowbit::data::Split::Test);
  EXPECT_EQ(train.images.sizes(), (std::vector<int64_t>{60000, 1, 28, 28}));
  EXPECT_EQ(test.images.sizes(), (std::vector<int64_t>{10000, 1, 28, 28}));
  EXPECT_EQ(train.labels.scalar_type(), torch::kLong);
  // The published first labels: train starts "9 0 0 3" (ankle boot, T-shirt, T-shirt, dress),
  // test "9 2 1 1"; every class has 6000 training and 1000 test images.
  EXPECT_TRUE(torch::equal(train.labels.slice(0, 0, 4), torch::tensor({9, 0, 0, 3}, torch::kLong)));
  EXPECT_TRUE(torch::equal(test.labels.slice(0, 0, 4), torch::tensor({9, 2, 1, 1}, torch::kLong)));
  EXPECT_TRUE(torch::equal(torch::bincount(train.labels), torch::full({10}, 6000, torch::kLong)));
  EXPECT_TRUE(torch::equal(torch::bincount(test.labels), torch::full({10}, 1000, torch::kLong)));
}
