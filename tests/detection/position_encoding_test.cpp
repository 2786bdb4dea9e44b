// PositionEmbeddingSine: DETR's normalised sine encoding, by hand, and unmoved by padding.
#include <lowbit/modules/detection/position_encoding.h>

#include <gtest/gtest.h>

#include <torch/torch.h>

#include <cmath>

using lowbit::detection::PositionEmbeddingSine;

TEST(PositionEmbeddingSine, MatchesTheFormulaByHand) {
  PositionEmbeddingSine encoding(4);  // F = 4: dim_t = 10000^(2 floor(i/2) / 4) = {1, 1, 100, 100}
  const auto pos = encoding(torch::zeros({1, 2, 3}, torch::kBool));
  ASSERT_EQ(pos.sizes(), (std::vector<int64_t>{1, 8, 2, 3}));
  // Pixel (row 0, column 1): y = 1 / (2 + 1e-6) 2 pi, x = 2 / (3 + 1e-6) 2 pi.
  const double y = 1 / (2 + 1e-6) * 2 * M_PI, x = 2 / (3 + 1e-6) * 2 * M_PI;
  const auto expected = torch::tensor({std::sin(y), std::cos(y), std::sin(y / 100), std::cos(y / 100), std::sin(x),
                                       std::cos(x), std::sin(x / 100), std::cos(x / 100)});
  EXPECT_TRUE(torch::allclose(pos.index({0, torch::indexing::Slice(), 0, 1}), expected.to(torch::kFloat), 1e-5, 1e-6));
}

TEST(PositionEmbeddingSine, PaddingDoesNotMoveAnImagesOwnEncoding) {
  PositionEmbeddingSine encoding(8);
  const auto alone = encoding(torch::zeros({1, 3, 4}, torch::kBool));
  auto mask = torch::zeros({1, 5, 7}, torch::kBool);
  mask.index_put_({0, torch::indexing::Slice(3), torch::indexing::Slice()}, true);
  mask.index_put_({0, torch::indexing::Slice(), torch::indexing::Slice(4)}, true);
  const auto padded = encoding(mask);
  using torch::indexing::Slice;
  EXPECT_TRUE(torch::allclose(padded.index({Slice(), Slice(), Slice(0, 3), Slice(0, 4)}), alone, 1e-6, 1e-6));
}

TEST(PositionEmbeddingSine, RejectsAnOddFeatureCount) {
  EXPECT_THROW(PositionEmbeddingSine(3), c10::ValueError);
}
