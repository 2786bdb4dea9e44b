#pragma once
// REQUIRE_GPU() skips a test that needs a GPU, saying why: lowbit built without its CUDA kernels,
// or no CUDA device. scripts/gpu-check runs these tests (their names hold "Cuda") on a GPU machine.

#include <lowbit/lowbit.h>

#include <gtest/gtest.h>

#include <torch/cuda.h>

#include <string>

namespace lowbit::testing {

// Why the CUDA tests cannot run here, or "" when they can.
inline std::string missing_gpu() {
  if (!lowbit::built_with_cuda()) return "lowbit built without CUDA kernels (LOWBIT_WITH_CUDA)";
  if (!torch::cuda::is_available()) return "no CUDA device";
  return "";
}

}  // namespace lowbit::testing

#define REQUIRE_GPU() \
  if (const auto why = ::lowbit::testing::missing_gpu(); !why.empty()) GTEST_SKIP() << why
