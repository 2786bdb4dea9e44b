#include <lowbit/csrc/kernels/bit_planes.h>

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>

namespace lowbit::kernels::cpu {
namespace {

// Bytes per parallel task: each byte covers 8 elements.
constexpr int64_t kGrain = at::internal::GRAIN_SIZE / 8;

template <typename scalar_t>
void pack_loop(const scalar_t* __restrict__ x, int64_t n, ops::Planes kind, int plane, uint8_t* __restrict__ out) {
  at::parallel_for(0, ops::plane_bytes(n), kGrain, [=](int64_t begin, int64_t end) {
    for (int64_t byte = begin; byte < end; ++byte) {
      const int64_t first = byte * 8;
      const int count = static_cast<int>(std::min<int64_t>(8, n - first));
      uint8_t bits = 0;
      for (int k = 0; k < count; ++k) bits |= static_cast<uint8_t>(ops::plane_bit(x[first + k], kind, plane)) << k;
      out[byte] = bits;
    }
  });
}

}  // namespace

at::Tensor pack_planes(const at::Tensor& x, ops::Planes kind) {
  const auto input = x.contiguous();
  const int64_t n = input.numel();
  auto out = at::empty({ops::plane_count(kind), ops::plane_bytes(n)}, input.options().dtype(at::kByte));
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(), "pack_planes_cpu", [&] {
    for (int plane = 0; plane < ops::plane_count(kind); ++plane) {
      pack_loop(input.const_data_ptr<scalar_t>(), n, kind, plane, out[plane].mutable_data_ptr<uint8_t>());
    }
  });
  return out;
}

at::Tensor unpack_signs(const at::Tensor& packed, at::IntArrayRef sizes, at::ScalarType dtype) {
  const auto planes = packed.contiguous();
  auto out = at::empty(sizes, planes.options().dtype(dtype));
  const int64_t n = out.numel();
  const uint8_t* positive = planes[0].const_data_ptr<uint8_t>();
  const uint8_t* nonzero = planes[1].const_data_ptr<uint8_t>();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, dtype, "unpack_signs_cpu", [&] {
    scalar_t* o = out.mutable_data_ptr<scalar_t>();
    at::parallel_for(0, ops::plane_bytes(n), kGrain, [=](int64_t begin, int64_t end) {
      for (int64_t byte = begin; byte < end; ++byte) {
        const int64_t first = byte * 8;
        const int count = static_cast<int>(std::min<int64_t>(8, n - first));
        for (int k = 0; k < count; ++k) {
          o[first + k] = ops::sign_value<scalar_t>((positive[byte] >> k) & 1, (nonzero[byte] >> k) & 1);
        }
      }
    });
  });
  return out;
}

at::Tensor mask_by_plane(const at::Tensor& grad, const at::Tensor& packed) {
  const auto planes = packed.contiguous();
  const auto g = grad.contiguous();
  const int64_t n = g.numel();
  auto out = at::empty_like(g);
  const uint8_t* mask = planes[0].const_data_ptr<uint8_t>();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, g.scalar_type(), "mask_by_plane_cpu", [&] {
    const scalar_t* gp = g.const_data_ptr<scalar_t>();
    scalar_t* o = out.mutable_data_ptr<scalar_t>();
    at::parallel_for(0, ops::plane_bytes(n), kGrain, [=](int64_t begin, int64_t end) {
      for (int64_t byte = begin; byte < end; ++byte) {
        const int64_t first = byte * 8;
        const int count = static_cast<int>(std::min<int64_t>(8, n - first));
        for (int k = 0; k < count; ++k) o[first + k] = (mask[byte] >> k) & 1 ? gp[first + k] : scalar_t(0);
      }
    });
  });
  return out;
}

}  // namespace lowbit::kernels::cpu
