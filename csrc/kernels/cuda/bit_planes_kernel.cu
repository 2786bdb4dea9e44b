#include <lowbit/csrc/kernels/cuda/launch.h>
#include <lowbit/csrc/kernels/cuda/dtype_dispatch.cuh>

#include <lowbit/csrc/ops/bit_planes.h>

namespace lowbit::kernels::cuda {
namespace {

// One thread per output byte (8 elements) of one plane.
template <typename T>
__global__ void pack_kernel(const T* x, int64_t n, ops::Planes kind, int plane, uint8_t* out) {
  const int64_t bytes = ops::plane_bytes(n);
  for (int64_t byte = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; byte < bytes;
       byte += int64_t(blockDim.x) * gridDim.x) {
    const int64_t first = byte * 8;
    const int count = n - first < 8 ? int(n - first) : 8;
    uint8_t bits = 0;
    for (int k = 0; k < count; ++k) {
      bits |= uint8_t(ops::plane_bit(typename Acc<T>::type(x[first + k]), kind, plane)) << k;
    }
    out[byte] = bits;
  }
}

template <typename T>
__global__ void unpack_signs_kernel(const uint8_t* positive, const uint8_t* nonzero, int64_t n, T* out) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(blockDim.x) * gridDim.x) {
    const int k = int(i & 7);
    out[i] = ops::sign_value<T>((positive[i >> 3] >> k) & 1, (nonzero[i >> 3] >> k) & 1);
  }
}

template <typename T>
__global__ void mask_kernel(const T* grad, const uint8_t* mask, int64_t n, T* out) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(blockDim.x) * gridDim.x) {
    out[i] = (mask[i >> 3] >> (i & 7)) & 1 ? grad[i] : T(0.0f);
  }
}

}  // namespace

void launch_pack_planes(DType dtype, const void* x, int64_t n, ops::Planes kind, uint8_t* out, cudaStream_t stream) {
  if (n == 0) return;
  dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    for (int plane = 0; plane < ops::plane_count(kind); ++plane) {
      pack_kernel<T><<<grid_for(ops::plane_bytes(n)), kBlock, 0, stream>>>(static_cast<const T*>(x), n, kind, plane,
                                                                          out + plane * ops::plane_bytes(n));
    }
  });
  check_launch("pack_planes");
}

void launch_unpack_signs(DType dtype, const uint8_t* planes, int64_t n, void* out, cudaStream_t stream) {
  if (n == 0) return;
  dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    unpack_signs_kernel<T><<<grid_for(n), kBlock, 0, stream>>>(planes, planes + ops::plane_bytes(n), n,
                                                               static_cast<T*>(out));
  });
  check_launch("unpack_signs");
}

void launch_mask_by_plane(DType dtype, const void* grad, const uint8_t* mask, int64_t n, void* out,
                          cudaStream_t stream) {
  if (n == 0) return;
  dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    mask_kernel<T><<<grid_for(n), kBlock, 0, stream>>>(static_cast<const T*>(grad), mask, n, static_cast<T*>(out));
  });
  check_launch("mask_by_plane");
}

}  // namespace lowbit::kernels::cuda
