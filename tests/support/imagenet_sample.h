#pragma once
// The ImageNet sample of ../shared/data (see its README): ILSVRC-2012, one JPEG per class in
// class folders under images/, and synset_words.txt. It is not part of the repository: tests on it
// derive their fixture from ImagenetSampleTest, which skips them when the sample is absent.

#include <gtest/gtest.h>

#include <string>

namespace lowbit::testing {

// <repo>/../shared/data/imagenet-sample (resolved at build time from the source folder).
std::string imagenet_sample_dir();
// Its images/ folder, the ImageFolder root.
std::string imagenet_sample_images();

class ImagenetSampleTest : public ::testing::Test {
 protected:
  void SetUp() override;
};

}  // namespace lowbit::testing
