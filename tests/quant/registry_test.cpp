#include <lowbit/modules/quant/registry.h>

#include "support/error_of.h"

#include <gtest/gtest.h>

#include <torch/torch.h>

using lowbit::quant::make;

using lowbit::testing::error_of;

TEST(QuantizerRegistry, ListsQuantizersSorted) {
  const auto names = lowbit::quant::registered_quantizers();
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  for (const char* name : {"adabin", "adabin_act", "dorefa", "identity", "lsq", "lsq_plus", "qvit_act", "rsign", "sign",
                           "ternary", "xnor"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), name), names.end()) << name;
  }
}

TEST(QuantizerRegistry, UnknownNameSuggestsClosest) {
  const auto msg = error_of([] { make("rsing", {{"channels", 4}}); });
  EXPECT_NE(msg.find("unknown quantizer 'rsing' (did you mean 'rsign'?)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("expected one of "), std::string::npos) << msg;
  EXPECT_NE(msg.find(", lsq, lsq_plus, "), std::string::npos) << msg;  // sorted
}

TEST(QuantizerRegistry, UnknownOptionNamesIt) {
  const auto msg = error_of([] { make("lsq", {{"bits", 4}, {"per_chanel", true}}); });
  EXPECT_NE(msg.find("quantizer 'lsq': unknown option 'per_chanel' (did you mean 'per_channel'?)"), std::string::npos)
      << msg;
}

TEST(QuantizerRegistry, WrongTypeNamesOptionAndValue) {
  const auto msg = error_of([] { make("lsq", {{"bits", "four"}}); });
  EXPECT_NE(msg.find("quantizer 'lsq': option 'bits' expects an integer, got string 'four'"), std::string::npos) << msg;
}

TEST(QuantizerRegistry, MissingRequiredOption) {
  const auto msg = error_of([] { make("dorefa"); });
  EXPECT_NE(msg.find("quantizer 'dorefa': missing option 'bits'"), std::string::npos) << msg;
}

TEST(QuantizerRegistry, BitWidthOutOfRange) {
  for (const std::string name : {"lsq", "lsq_plus", "dorefa"}) {
    for (int64_t bits : {0, 33}) {
      const auto msg = error_of([&] { make(name, {{"bits", bits}}); });
      EXPECT_NE(msg.find("bits must be in [1, 32], got " + std::to_string(bits)), std::string::npos) << msg;
    }
  }
}

TEST(QuantizerRegistry, SignedOneBitLsqIsTheSignCode) {
  auto lsq = make("lsq", {{"bits", 1}});
  lsq(torch::tensor({-2.0, 2.0}));  // step 2 mean|x| / sqrt(1) = 4
  EXPECT_TRUE(torch::equal(lsq(torch::tensor({-0.3, 0.2, 9.0})), torch::tensor({-4.0, 4.0, 4.0})));
}

TEST(QuantizerRegistry, BadEnumValues) {
  EXPECT_NE(error_of([] { make("sign", {{"ste", "clip"}}); }).find("did you mean 'clipped'"), std::string::npos);
  EXPECT_NE(error_of([] { make("ternary", {{"delta", -1.0}}); }).find("delta must be > 0"), std::string::npos);
  EXPECT_NE(error_of([] { make("lsq", {{"bits", 4}, {"init", "minmax"}}); }).find("did you mean 'min_max'"),
            std::string::npos);
  EXPECT_NE(error_of([] { make("dorefa", {{"bits", 2}, {"target", "weights"}}); }).find("did you mean 'weight'"),
            std::string::npos);
}

TEST(QuantizerRegistry, IntegerAcceptedWhereNumberExpected) {
  auto q = make("ternary", {{"delta", 1}});
  EXPECT_EQ(q->name(), "lowbit::quant::Ternary");
}

TEST(QuantizerRegistry, ChannelQuantizersAreMarked) {
  EXPECT_TRUE(lowbit::quant::takes_channels("rsign"));
  EXPECT_FALSE(lowbit::quant::takes_channels("lsq"));
  EXPECT_FALSE(lowbit::quant::takes_channels("no_such_quantizer"));
}
