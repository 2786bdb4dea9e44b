#include "support/imagenet_sample.h"

#include <lowbit/csrc/util/files.h>

namespace lowbit::testing {

std::string imagenet_sample_dir() { return LOWBIT_SHARED_DATA_DIR "/imagenet-sample"; }

std::string imagenet_sample_images() { return imagenet_sample_dir() + "/images"; }

void ImagenetSampleTest::SetUp() {
  if (!util::file_exists(imagenet_sample_dir() + "/synset_words.txt")) {
    GTEST_SKIP() << imagenet_sample_dir() << " is absent (the ImageNet sample of ../shared/data, see its README)";
  }
}

}  // namespace lowbit::testing
