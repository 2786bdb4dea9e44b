#pragma once
// Raw-pointer launchers of the CUDA kernels. The .cu files include no LibTorch header, so they
// compile with nvcc against any LibTorch (or none); the tensor-side wrappers are in
// csrc/kernels/cuda/tensor_wrappers.cpp. All pointers are to contiguous device memory.

#include <lowbit/csrc/ops/bit_planes.h>
#include <lowbit/csrc/ops/ste.h>

#include <cstdint>

#include <cuda_runtime_api.h>

namespace lowbit::kernels::cuda {

enum class DType { Float, Double, Half, BFloat16 };

void launch_ste_backward(DType dtype, const void* grad, const void* x, void* out, int64_t n, ops::Ste ste,
                         cudaStream_t stream);

// x viewed as [outer, channels, inner]; offset may be null (LSQ without offset).
struct LsqLaunch {
  int64_t n, channels, inner;
  double qn, qp;
  bool sign;
};
void launch_lsq_forward(DType dtype, const void* x, const void* step, const void* offset, void* out,
                        const LsqLaunch& shape, cudaStream_t stream);
// Writes dL/dx (dtype) and the per-element step/offset gradient terms (float; offset_terms may be
// null), reduced afterwards by the caller.
void launch_lsq_backward(DType dtype, const void* grad, const void* x, const void* step, const void* offset,
                         void* grad_x, float* step_terms, float* offset_terms, const LsqLaunch& shape,
                         cudaStream_t stream);

// sign(x + b_c) (kernels/shifted_sign.h), x viewed as [n / (channels * inner), channels, inner].
// The backward writes dL/dx; the caller sums it per channel for dL/db.
struct ShiftLaunch {
  int64_t n, channels, inner;
};
void launch_shifted_sign_forward(DType dtype, const void* x, const void* shift, void* out, const ShiftLaunch& shape,
                                 cudaStream_t stream);
void launch_shifted_sign_backward(DType dtype, const void* grad, const void* x, const void* shift, void* grad_x,
                                  ops::Ste ste, const ShiftLaunch& shape, cudaStream_t stream);

// Bit planes (csrc/ops/bit_planes.h): `out` / `planes` hold plane_count(kind) planes of
// plane_bytes(n) bytes, one after the other.
void launch_pack_planes(DType dtype, const void* x, int64_t n, ops::Planes kind, uint8_t* out, cudaStream_t stream);
void launch_unpack_signs(DType dtype, const uint8_t* planes, int64_t n, void* out, cudaStream_t stream);
void launch_mask_by_plane(DType dtype, const void* grad, const uint8_t* mask, int64_t n, void* out,
                          cudaStream_t stream);

}  // namespace lowbit::kernels::cuda
