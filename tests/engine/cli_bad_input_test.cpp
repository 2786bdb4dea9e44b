// What a new user trips over at the command line (issue #14): a device the machine lacks is
// reported by train and eval before anything is written, pointing to --set device=cpu where
// there is no GPU; `lowbit summary` lays out every stage of a multi-stage recipe.
#include "support/run_cli.h"
#include "support/temp_dir.h"

#include <lowbit/csrc/util/files.h>

#include <gtest/gtest.h>

#include <torch/cuda.h>

#include <algorithm>
#include <regex>

namespace {

const std::string kValidBase = std::string(LOWBIT_SOURCE_DIR) + "/tests/engine/recipes/valid_base.yaml";

}  // namespace

TEST(CliBadInput, AbsentGpuStopsTrainAndEvalBeforeAnythingIsWritten) {
  lowbit::testing::TempDir dir;
  const auto output = dir.file("out");
  for (const auto& command : {"train", "eval"}) {
    const auto r = lowbit::testing::run_cli({command, kValidBase, "--set", "device=cuda:99", "output=" + output});
    EXPECT_EQ(r.status, 2) << command << ": " << r.output;
    EXPECT_NE(r.output.find("--set device: "), std::string::npos) << r.output;  // where the value came from
    EXPECT_NE(r.output.find("device: 'cuda:99' asked for, but "), std::string::npos) << r.output;
    if (!torch::cuda::is_available()) EXPECT_NE(r.output.find("--set device=cpu"), std::string::npos) << r.output;
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
    EXPECT_FALSE(lowbit::util::file_exists(output)) << command;
  }
}

TEST(CliBadInput, SummaryShowsEveryStage) {
  const auto r = lowbit::testing::run_cli({"summary", std::string(LOWBIT_SOURCE_DIR) + "/recipes/rebnn/fashion_mnist_small_cnn.yaml"});
  ASSERT_EQ(r.status, 0) << r.output;
  const auto stage2 = r.output.find(", stage 2 (");
  ASSERT_NE(r.output.find(", stage 1 ("), std::string::npos) << r.output;
  ASSERT_NE(stage2, std::string::npos) << r.output;
  // Stage 1 (W32A1) has no binary MACs, stage 2 (W1A1) has: its QConv2d rows read "1   1".
  const std::regex binary_conv(R"(QConv2d +1 +1 )");
  EXPECT_FALSE(std::regex_search(r.output.substr(0, stage2), binary_conv)) << r.output;
  EXPECT_TRUE(std::regex_search(r.output.substr(stage2), binary_conv)) << r.output;
}

// A detector's summary: one row per part, binary and real MACs per image of the evaluation size.
TEST(CliBadInput, SummaryOfTheOneBitFasterRcnnCountsBinaryAndRealOperations) {
  const auto r = lowbit::testing::run_cli(
      {"summary", std::string(LOWBIT_SOURCE_DIR) + "/recipes/idadet/coco_sample_bires18.yaml"});
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find(", stage 1 (train), one 256x256 image"), std::string::npos) << r.output;
  for (const auto* part : {"\nbackbone ", "\nneck ", "\nrpn_head ", "\nroi_head "}) {
    EXPECT_NE(r.output.find(part), std::string::npos) << part << r.output;
  }
  // The binary rows (backbone units, FPN, RPN conv) and the real ones (stem, box head).
  EXPECT_TRUE(std::regex_search(r.output, std::regex(R"(\n  neck\.laterals\.0 +QConv2d +1 +1 +\d+ +[1-9]\d* +0 )"))) << r.output;
  EXPECT_TRUE(std::regex_search(r.output, std::regex(R"(\n  roi_head\.fc1 +QLinear +32 +32 +\d+ +0 +[1-9]\d* )"))) << r.output;
  EXPECT_NE(r.output.find("OPs (BOPs/64 + FLOPs) per image: "), std::string::npos) << r.output;
}
