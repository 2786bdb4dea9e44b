#pragma once
// Packing into bit planes and back (csrc/ops/bit_planes.h), on CPU and CUDA.

#include <lowbit/csrc/ops/bit_planes.h>

#include <ATen/core/Tensor.h>

namespace lowbit::kernels {

// x (floating point) -> uint8 [plane_count(kind), plane_bytes(x.numel())].
at::Tensor pack_planes(const at::Tensor& x, ops::Planes kind);
// Signs planes -> a tensor of `sizes` and `dtype` on the planes' device, values in {-1, 0, +1}.
at::Tensor unpack_signs(const at::Tensor& planes, at::IntArrayRef sizes, at::ScalarType dtype);
// grad where plane 0 of `planes` has its bit set, 0 elsewhere (the clipped STE's backward).
at::Tensor mask_by_plane(const at::Tensor& grad, const at::Tensor& planes);

namespace cpu {
at::Tensor pack_planes(const at::Tensor& x, ops::Planes kind);
at::Tensor unpack_signs(const at::Tensor& planes, at::IntArrayRef sizes, at::ScalarType dtype);
at::Tensor mask_by_plane(const at::Tensor& grad, const at::Tensor& planes);
}  // namespace cpu
namespace cuda {
at::Tensor pack_planes(const at::Tensor& x, ops::Planes kind);
at::Tensor unpack_signs(const at::Tensor& planes, at::IntArrayRef sizes, at::ScalarType dtype);
at::Tensor mask_by_plane(const at::Tensor& grad, const at::Tensor& planes);
}  // namespace cuda

}  // namespace lowbit::kernels
