// Bit planes (csrc/kernels/bit_planes.h): packing and back, on tensors whose sizes are not
// multiples of 8, in every floating dtype.
#include <lowbit/csrc/kernels/bit_planes.h>

#include "support/require_gpu.h"

#include <gtest/gtest.h>

#include <torch/torch.h>

namespace {

using lowbit::kernels::mask_by_plane;
using lowbit::kernels::pack_planes;
using lowbit::kernels::unpack_signs;
using lowbit::ops::Planes;

const std::vector<torch::ScalarType> kDtypes = {torch::kFloat, torch::kDouble, torch::kHalf, torch::kBFloat16};

TEST(BitPlanes, SignsComeBackExactlyWithTheirZeros) {
  torch::manual_seed(0);
  for (const int64_t n : {1, 7, 8, 9, 1001, 65537}) {
    const auto values = torch::randint(-1, 2, {n}).to(torch::kFloat);  // -1, 0, +1
    for (const auto dtype : kDtypes) {
      SCOPED_TRACE(std::to_string(n) + " " + c10::toString(dtype));
      const auto x = values.to(dtype);
      const auto planes = pack_planes(x, Planes::Signs);
      ASSERT_EQ(planes.scalar_type(), torch::kByte);
      ASSERT_EQ(planes.sizes(), (std::vector<int64_t>{2, (n + 7) / 8}));
      const auto back = unpack_signs(planes, x.sizes(), dtype);
      EXPECT_EQ(back.scalar_type(), dtype);
      EXPECT_TRUE(torch::equal(back, x));
    }
  }
}

TEST(BitPlanes, ElementIIsBitIModEightOfByteIDivEight) {
  // +1 at 0, 0 at 1, -1 at 2, +1 at 9: plane 0 (x > 0) = bits 0 and 9; plane 1 (x != 0) = 0, 2, 9.
  auto x = torch::full({10}, -1.0);
  x[0] = 1;
  x[1] = 0;
  x[9] = 1;
  const auto planes = pack_planes(x, Planes::Signs);
  EXPECT_EQ(planes[0][0].item<int>(), 0b00000001);
  EXPECT_EQ(planes[0][1].item<int>(), 0b00000010);
  EXPECT_EQ(planes[1][0].item<int>(), 0b11111101);
  EXPECT_EQ(planes[1][1].item<int>(), 0b00000011);
}

TEST(BitPlanes, ClipMaskPassesTheGradientWhereTheMagnitudeIsAtMostOne) {
  torch::manual_seed(1);
  for (const auto dtype : kDtypes) {
    SCOPED_TRACE(c10::toString(dtype));
    auto x = (torch::randn({3, 5, 67}) * 1.5).to(dtype);
    x.view(-1)[0] = 1;  // the boundary passes, as in the clipped STE (csrc/ops/ste.h)
    x.view(-1)[1] = -1;
    const auto g = torch::randn({3, 5, 67}).to(dtype);
    const auto planes = pack_planes(x, Planes::ClipMask);
    ASSERT_EQ(planes.size(0), 1);
    const auto masked = mask_by_plane(g, planes);
    EXPECT_TRUE(torch::equal(masked, g * (x.abs() <= 1).to(dtype)));
    EXPECT_EQ(masked.sizes(), g.sizes());
  }
}

TEST(BitPlanes, NonContiguousInputsAreReadInLogicalOrder) {
  const auto x = torch::randint(-1, 2, {16, 9}).to(torch::kFloat).t();
  EXPECT_TRUE(torch::equal(unpack_signs(pack_planes(x, Planes::Signs), x.sizes(), torch::kFloat), x));
}

TEST(BitPlanes, WrongPlanesAreAClearError) {
  const auto planes = pack_planes(torch::ones({16}), Planes::Signs);
  try {
    unpack_signs(planes, {17}, torch::kFloat);
    FAIL() << "expected an error";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("expected uint8 bit planes [2, 3] for 17 elements"), std::string::npos) << e.what();
  }
  EXPECT_THROW(unpack_signs(planes.to(torch::kInt), {16}, torch::kFloat), c10::Error);
  EXPECT_THROW(mask_by_plane(torch::ones({17}), planes), c10::Error);  // 3 bytes a plane, not 2
}

TEST(BitPlanes, CudaMatchesCpu) {
  REQUIRE_GPU();
  const auto x = torch::randint(-1, 2, {4099}).to(torch::kFloat);
  const auto g = torch::randn({4099});
  for (const auto dtype : kDtypes) {
    const auto cpu = pack_planes(x.to(dtype), Planes::Signs);
    const auto gpu = pack_planes(x.to(dtype).cuda(), Planes::Signs);
    EXPECT_TRUE(torch::equal(gpu.cpu(), cpu));
    EXPECT_TRUE(torch::equal(unpack_signs(gpu, x.sizes(), dtype).cpu(), x.to(dtype)));
    const auto mask = pack_planes((x * 1.5).to(dtype).cuda(), Planes::ClipMask);
    EXPECT_TRUE(torch::equal(mask.cpu(), pack_planes((x * 1.5).to(dtype), Planes::ClipMask)));
    EXPECT_TRUE(torch::equal(mask_by_plane(g.to(dtype).cuda(), mask).cpu(), mask_by_plane(g.to(dtype), mask.cpu())));
  }
}

}  // namespace
