#include "support/coco_sample.h"

#include <lowbit/csrc/util/files.h>

namespace lowbit::testing {

std::string coco_sample_dir() { return LOWBIT_SHARED_DATA_DIR "/coco-sample"; }

std::string coco_sample_annotations() { return coco_sample_dir() + "/annotations/instances_val2017.json"; }

std::string coco_sample_images() { return coco_sample_dir() + "/val2017"; }

void CocoSampleTest::SetUp() {
  if (!util::file_exists(coco_sample_annotations())) {
    GTEST_SKIP() << coco_sample_annotations() << " is absent (the COCO sample of ../shared/data, see its README)";
  }
}

}  // namespace lowbit::testing
