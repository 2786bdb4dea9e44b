#pragma once
// The COCO sample of ../shared/data (see its README): 188 val2017 images and their instances
// annotations (annotations/instances_val2017.json, with 20 crowd annotations and 2 images without
// any). It is not part of the repository: tests on it derive their fixture from CocoSampleTest,
// which skips them when the sample is absent.

#include <gtest/gtest.h>

#include <string>

namespace lowbit::testing {

// <repo>/../shared/data/coco-sample (resolved at build time from the source folder).
std::string coco_sample_dir();
// Its annotations/instances_val2017.json.
std::string coco_sample_annotations();
// Its val2017/ folder of images.
std::string coco_sample_images();

class CocoSampleTest : public ::testing::Test {
 protected:
  void SetUp() override;
};

}  // namespace lowbit::testing
