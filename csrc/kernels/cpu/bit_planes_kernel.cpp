#include <lowbit/csrc/kernels/bit_planes.h>

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/TensorIterator.h>  // at::internal::GRAIN_SIZE
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>

#include <type_traits>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace lowbit::kernels::cpu {
namespace {

// Bytes per parallel task: each byte covers 8 elements.
constexpr int64_t kGrain = at::internal::GRAIN_SIZE / 8;

// float32, the common case, 8 elements at a time with SSE2 (every x86-64): compares and movemask
// to pack; to unpack and mask, one 4-lane mask per nibble from a table. Other dtypes, the last
// partial byte and other CPUs take the scalar loops, whose results are the same.
#if defined(__SSE2__)
uint8_t pack8(const float* x, ops::Planes kind, int plane) {
  __m128 a = _mm_loadu_ps(x), b = _mm_loadu_ps(x + 4);
  const __m128 zero = _mm_setzero_ps();
  if (kind == ops::Planes::ClipMask) {
    const __m128 magnitude = _mm_castsi128_ps(_mm_set1_epi32(0x7fffffff)), one = _mm_set1_ps(1.0f);
    a = _mm_cmple_ps(_mm_and_ps(a, magnitude), one);
    b = _mm_cmple_ps(_mm_and_ps(b, magnitude), one);
  } else if (plane == 0) {
    a = _mm_cmpgt_ps(a, zero);
    b = _mm_cmpgt_ps(b, zero);
  } else {
    a = _mm_cmpneq_ps(a, zero);
    b = _mm_cmpneq_ps(b, zero);
  }
  return static_cast<uint8_t>(_mm_movemask_ps(a) | (_mm_movemask_ps(b) << 4));
}

// All ones in lane k where bit k of the nibble is set.
struct NibbleMasks {
  __m128 lanes[16];
  NibbleMasks() {
    for (int n = 0; n < 16; ++n) {
      lanes[n] = _mm_castsi128_ps(_mm_set_epi32(n & 8 ? -1 : 0, n & 4 ? -1 : 0, n & 2 ? -1 : 0, n & 1 ? -1 : 0));
    }
  }
};
const __m128* nibble_masks() {
  static const NibbleMasks masks;
  return masks.lanes;
}

// 4 values from nibbles of the two planes: nonzero ? (positive ? +1 : -1) : 0.
__m128 signs4(unsigned positive, unsigned nonzero) {
  const __m128* m = nibble_masks();
  const __m128 one = _mm_set1_ps(1.0f), sign_bit = _mm_set1_ps(-0.0f);
  return _mm_and_ps(m[nonzero], _mm_or_ps(one, _mm_andnot_ps(m[positive], sign_bit)));
}
#endif

// Calls fn(byte, first, count) for every byte of planes over n elements (elements first ..
// first + count - 1; count = 8 but in the last byte), in parallel.
template <typename Fn>
void for_each_byte(int64_t n, const Fn& fn) {
  at::parallel_for(0, ops::plane_bytes(n), kGrain, [&](int64_t begin, int64_t end) {
    for (int64_t byte = begin; byte < end; ++byte) {
      const int64_t first = byte * 8;
      fn(byte, first, static_cast<int>(std::min<int64_t>(8, n - first)));
    }
  });
}

// Every plane of `kind` in one pass over x; plane p starts at out + p * plane_bytes(n).
template <typename scalar_t>
void pack_loop(const scalar_t* __restrict__ x, int64_t n, ops::Planes kind, uint8_t* __restrict__ out) {
  const int planes = ops::plane_count(kind);
  const int64_t stride = ops::plane_bytes(n);
  for_each_byte(n, [=](int64_t byte, int64_t first, int count) {
    for (int plane = 0; plane < planes; ++plane) {
#if defined(__SSE2__)
      if constexpr (std::is_same_v<scalar_t, float>) {
        if (count == 8) {
          out[plane * stride + byte] = pack8(x + first, kind, plane);
          continue;
        }
      }
#endif
      uint8_t bits = 0;
      for (int k = 0; k < count; ++k) bits |= static_cast<uint8_t>(ops::plane_bit(x[first + k], kind, plane)) << k;
      out[plane * stride + byte] = bits;
    }
  });
}

template <typename scalar_t>
void unpack_loop(const uint8_t* positive, const uint8_t* nonzero, int64_t n, scalar_t* o) {
  for_each_byte(n, [=](int64_t byte, int64_t first, int count) {
#if defined(__SSE2__)
    if constexpr (std::is_same_v<scalar_t, float>) {
      if (count == 8) {
        _mm_storeu_ps(o + first, signs4(positive[byte] & 15, nonzero[byte] & 15));
        _mm_storeu_ps(o + first + 4, signs4(positive[byte] >> 4, nonzero[byte] >> 4));
        return;
      }
    }
#endif
    for (int k = 0; k < count; ++k) {
      o[first + k] = ops::sign_value<scalar_t>((positive[byte] >> k) & 1, (nonzero[byte] >> k) & 1);
    }
  });
}

template <typename scalar_t>
void mask_loop(const scalar_t* g, const uint8_t* mask, int64_t n, scalar_t* o) {
  for_each_byte(n, [=](int64_t byte, int64_t first, int count) {
#if defined(__SSE2__)
    if constexpr (std::is_same_v<scalar_t, float>) {
      if (count == 8) {
        const __m128* m = nibble_masks();
        _mm_storeu_ps(o + first, _mm_and_ps(m[mask[byte] & 15], _mm_loadu_ps(g + first)));
        _mm_storeu_ps(o + first + 4, _mm_and_ps(m[mask[byte] >> 4], _mm_loadu_ps(g + first + 4)));
        return;
      }
    }
#endif
    for (int k = 0; k < count; ++k) o[first + k] = (mask[byte] >> k) & 1 ? g[first + k] : scalar_t(0);
  });
}

}  // namespace

at::Tensor pack_planes(const at::Tensor& x, ops::Planes kind) {
  const auto input = x.contiguous();
  const int64_t n = input.numel();
  auto out = at::empty({ops::plane_count(kind), ops::plane_bytes(n)}, input.options().dtype(at::kByte));
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(), "pack_planes_cpu", [&] {
    pack_loop(input.const_data_ptr<scalar_t>(), n, kind, out.mutable_data_ptr<uint8_t>());
  });
  return out;
}

at::Tensor unpack_signs(const at::Tensor& packed, at::IntArrayRef sizes, at::ScalarType dtype) {
  const auto planes = packed.contiguous();
  auto out = at::empty(sizes, planes.options().dtype(dtype));
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, dtype, "unpack_signs_cpu", [&] {
    unpack_loop(planes[0].const_data_ptr<uint8_t>(), planes[1].const_data_ptr<uint8_t>(), out.numel(),
                out.mutable_data_ptr<scalar_t>());
  });
  return out;
}

at::Tensor mask_by_plane(const at::Tensor& grad, const at::Tensor& packed) {
  const auto planes = packed.contiguous();
  const auto g = grad.contiguous();
  auto out = at::empty_like(g);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, g.scalar_type(), "mask_by_plane_cpu", [&] {
    mask_loop(g.const_data_ptr<scalar_t>(), planes[0].const_data_ptr<uint8_t>(), g.numel(),
              out.mutable_data_ptr<scalar_t>());
  });
  return out;
}

}  // namespace lowbit::kernels::cpu
