// Name maps: regex renames applied in order, like a sed script.
#include <lowbit/csrc/engine/checkpoint/name_map.h>

#include <gtest/gtest.h>

#include <c10/util/Exception.h>

using lowbit::engine::NameMap;

TEST(NameMap, RulesApplyInOrderEachToThePreviousResult) {
  const NameMap map({{"^module\\.", ""}, {"^layer(\\d)\\.", "stage$1."}, {"^stage1\\.", "stem."}});
  EXPECT_EQ(map.apply("module.layer1.0.conv1.weight"), "stem.0.conv1.weight");
  EXPECT_EQ(map.apply("layer2.0.bn1.running_mean"), "stage2.0.bn1.running_mean");
  EXPECT_EQ(map.apply("fc.weight"), "fc.weight");
}

TEST(NameMap, EveryMatchIsReplaced) {
  const NameMap map({{"\\.(\\d+)\\.", "[$1]."}});
  EXPECT_EQ(map.apply("blocks.0.attn.1.weight"), "blocks[0].attn[1].weight");
}

TEST(NameMap, EmptyMapKeepsNames) {
  const NameMap map;
  EXPECT_TRUE(map.empty());
  EXPECT_EQ(map.apply("conv1.weight"), "conv1.weight");
}

TEST(NameMap, InvalidPatternNamesItsRule) {
  try {
    NameMap({{"^fc\\.", "head."}, {"layer(\\d", "stage$1"}});
    FAIL() << "no error";
  } catch (const c10::ValueError& e) {
    EXPECT_NE(std::string(e.msg()).find("name map rule 1: 'layer(\\d' is not a valid regular expression ("), std::string::npos) << e.msg();
  }
}
