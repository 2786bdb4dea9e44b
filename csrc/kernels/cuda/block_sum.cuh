#pragma once
// Sums of double terms over a thread block (blockDim.x == kBlock), shared by the .cu files whose
// kernels reduce: warp shuffles, then the warps' sums in warp 0, in a fixed order. Thread 0 ends
// with the totals (the other threads' values are partial). Every thread of the block must call it;
// the trailing barrier frees the shared buffer for the block's next call.

#include <lowbit/csrc/kernels/cuda/dtype_dispatch.cuh>

namespace lowbit::kernels::cuda {

constexpr int kWarps = kBlock / 32;
static_assert(kBlock % 32 == 0 && kWarps <= 32, "block_sum needs whole warps, at most 32");

template <int Terms>
__device__ void block_sum(double (&v)[Terms]) {
  __shared__ double warp_sums[kWarps][Terms];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
#pragma unroll
  for (int k = 0; k < Terms; ++k) {
    for (int offset = 16; offset > 0; offset /= 2) v[k] += __shfl_down_sync(0xffffffffu, v[k], offset);
    if (lane == 0) warp_sums[warp][k] = v[k];
  }
  __syncthreads();
  if (warp == 0) {
#pragma unroll
    for (int k = 0; k < Terms; ++k) {
      v[k] = lane < kWarps ? warp_sums[lane][k] : 0.0;
      for (int offset = 16; offset > 0; offset /= 2) v[k] += __shfl_down_sync(0xffffffffu, v[k], offset);
    }
  }
  __syncthreads();
}

}  // namespace lowbit::kernels::cuda
