#pragma once
// Shared launch plumbing of the .cu files: dtype dispatch, grid sizing, error checks.

#include <lowbit/csrc/kernels/cuda/launch.h>

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <stdexcept>
#include <string>

namespace lowbit::kernels::cuda {

constexpr int kBlock = 256;

// Grid-stride loops: enough blocks to fill the GPU, never more than the work needs.
inline unsigned grid_for(int64_t n) {
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  return static_cast<unsigned>(blocks < 65535 * 8 ? blocks : 65535 * 8);
}

// Arithmetic type: half-precision inputs compute in float.
template <typename T> struct Acc { using type = T; };
template <> struct Acc<__half> { using type = float; };
template <> struct Acc<__nv_bfloat16> { using type = float; };

template <typename Fn>
void dispatch(DType dtype, Fn&& fn) {
  switch (dtype) {
    case DType::Float: return fn(float{});
    case DType::Double: return fn(double{});
    case DType::Half: return fn(__half{});
    case DType::BFloat16: return fn(__nv_bfloat16{});
  }
}

inline void check_launch(const char* kernel) {
  const cudaError_t status = cudaGetLastError();
  if (status != cudaSuccess) {
    throw std::runtime_error(std::string("lowbit CUDA kernel ") + kernel + ": " + cudaGetErrorString(status));
  }
}

}  // namespace lowbit::kernels::cuda
