#include <lowbit/csrc/data/jpeg.h>

#include <gtest/gtest.h>

#include <torch/torch.h>

#include "support/error_of.h"
#include "support/imagenet_sample.h"
#include "support/temp_dir.h"

#include <lowbit/csrc/util/files.h>

using lowbit::testing::error_of;
using lowbit::data::decode_jpeg;
using lowbit::testing::TempDir;
using JpegOnSample = lowbit::testing::ImagenetSampleTest;

namespace {

struct JpegHeader {
  int64_t height, width, components;
};

// Height, width and component count from the first start-of-frame marker (T.81 B.2.2), read
// independently of libjpeg: FF Cn, length, precision, Y (2 bytes), X (2 bytes), Nf.
JpegHeader read_frame_header(const std::string& bytes) {
  size_t i = 2;
  while (i + 9 < bytes.size()) {
    const auto at = [&](size_t k) { return static_cast<unsigned char>(bytes[k]); };
    if (at(i) != 0xFF) {
      ++i;
      continue;
    }
    const int marker = at(i + 1);
    const bool is_sof = marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
    if (is_sof) return {at(i + 5) * 256 + at(i + 6), at(i + 7) * 256 + at(i + 8), at(i + 9)};
    i += 2 + at(i + 2) * 256 + at(i + 3);
  }
  return {0, 0, 0};
}

std::string image(const std::string& wnid_and_name) {
  const auto wnid = wnid_and_name.substr(0, wnid_and_name.find('_'));
  return lowbit::testing::imagenet_sample_images() + "/" + wnid + "/" + wnid_and_name + ".JPEG";
}

}  // namespace

TEST_F(JpegOnSample, DecodedSizesEqualFrameHeaders) {
  // Landscape and portrait ones, the smallest (75x56), the largest (2400x1600), a grayscale one.
  for (const auto* name : {"n01440764_tench", "n03866082_overskirt", "n03825788_nipple", "n01871265_tusker",
                           "n02091032_Italian_greyhound", "n02096051_Airedale", "n09246464_cliff"}) {
    const auto header = read_frame_header(lowbit::util::read_file(image(name)));
    const auto decoded = decode_jpeg(image(name));
    EXPECT_EQ(decoded.scalar_type(), torch::kByte) << name;
    EXPECT_EQ(decoded.sizes(), (std::vector<int64_t>{3, header.height, header.width})) << name;
  }
}

TEST_F(JpegOnSample, GrayscaleBecomesThreeEqualChannels) {
  // One of the sample's 23 single-component files.
  const auto path = image("n02096051_Airedale");
  ASSERT_EQ(read_frame_header(lowbit::util::read_file(path)).components, 1);
  const auto decoded = decode_jpeg(path);
  EXPECT_TRUE(torch::equal(decoded[0], decoded[1]));
  EXPECT_TRUE(torch::equal(decoded[0], decoded[2]));
  EXPECT_GT(decoded.max().item<int>() - decoded.min().item<int>(), 100);  // a real picture, not a flat one
}

TEST_F(JpegOnSample, ColourImageHasDistinctChannels) {
  const auto decoded = decode_jpeg(image("n01440764_tench"));
  EXPECT_FALSE(torch::equal(decoded[0], decoded[1]));
}

TEST_F(JpegOnSample, ReducedScaleKeepsShorterSideAtLeastMinSize) {
  // M/8 for the smallest M in {1, 2, 4} with ceil(shorter * M / 8) >= min_size, else full size.
  const auto path = image("n01440764_tench");  // 375 x 500
  const auto full = decode_jpeg(path);
  ASSERT_EQ(full.sizes(), (std::vector<int64_t>{3, 375, 500}));
  EXPECT_EQ(decode_jpeg(path, 40).sizes(), (std::vector<int64_t>{3, 47, 63}));     // 1/8
  EXPECT_EQ(decode_jpeg(path, 100).sizes(), (std::vector<int64_t>{3, 188, 250}));  // 1/2: 1/4 gives 94
  EXPECT_EQ(decode_jpeg(path, 256).sizes(), full.sizes());                         // 1/2 gives 188
  EXPECT_EQ(decode_jpeg(path, 1000).sizes(), full.sizes());                        // never upscaled
  EXPECT_EQ(decode_jpeg(image("n02091032_Italian_greyhound"), 256).sizes(),        // 1600 x 2400: 1/4
            (std::vector<int64_t>{3, 400, 600}));
  // Scaling inside the inverse DCT is a faithful downscale: close to averaging the full decode.
  const auto reduced = decode_jpeg(path, 100).to(torch::kFloat);
  const auto averaged = torch::adaptive_avg_pool2d(full.to(torch::kFloat), {188, 250});
  EXPECT_LT((reduced - averaged).abs().mean().item<double>(), 3.0);
}

TEST_F(JpegOnSample, TruncatedFileIsAnErrorNamingIt) {
  TempDir dir;
  const auto bytes = lowbit::util::read_file(image("n01440764_tench"));
  dir.write("half.JPEG", bytes.substr(0, bytes.size() / 2));
  const auto msg = error_of([&] { decode_jpeg(dir.file("half.JPEG")); });
  EXPECT_NE(msg.find(dir.file("half.JPEG") + ": corrupt or truncated JPEG (Premature end of JPEG file)"),
            std::string::npos)
      << msg;
}

TEST_F(JpegOnSample, FileCutInsideHeaderIsAnErrorNamingIt) {
  TempDir dir;
  dir.write("head.JPEG", lowbit::util::read_file(image("n01440764_tench")).substr(0, 100));
  const auto msg = error_of([&] { decode_jpeg(dir.file("head.JPEG")); });
  EXPECT_NE(msg.find(dir.file("head.JPEG") + ": corrupt or truncated JPEG ("), std::string::npos) << msg;
}

TEST(Jpeg, PngSignatureIsNamed) {
  TempDir dir;
  dir.write("x.JPEG", std::string("\x89PNG\r\n\x1a\n", 8) + std::string(64, '\0'));
  const auto msg = error_of([&] { decode_jpeg(dir.file("x.JPEG")); });
  EXPECT_NE(msg.find(dir.file("x.JPEG") + ": not a JPEG file (starts with 89 50 4e 47: PNG?)"), std::string::npos)
      << msg;
}

TEST(Jpeg, UnknownSignatureShowsExpectedOne) {
  TempDir dir;
  dir.write("y.JPEG", "hello");
  const auto msg = error_of([&] { decode_jpeg(dir.file("y.JPEG")); });
  EXPECT_NE(msg.find(dir.file("y.JPEG") + ": not a JPEG file (starts with 68 65 6c 6c; expected ff d8 ff)"),
            std::string::npos)
      << msg;
}

TEST(Jpeg, MissingFileIsNamed) {
  const auto msg = error_of([] { decode_jpeg("/nonexistent/x.JPEG"); });
  EXPECT_NE(msg.find("/nonexistent/x.JPEG: cannot open (No such file or directory)"), std::string::npos) << msg;
}
