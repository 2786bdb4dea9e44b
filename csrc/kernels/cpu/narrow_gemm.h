#pragma once
// The narrow path of the binary GEMM (kernels/binary_gemm.h), for binary x binary with B small
// enough to stay in L2 (a convolution's weight): B transposed to words x N, so that a vector holds
// word w of 8 B rows; an A word is broadcast against it and each lane counts for its own column:
//   C[i, j] = K - 2 sum_w popcount(A[i, w] XOR B^T[w, j])
// C's values come out 8 per vector, with no horizontal sums, and no lanes are masked off when a
// row's words are not a multiple of 8 (a 3x3 convolution over 64 channels has 9 words: the 4 x 4
// tiles' vectors cover 9 of 16). AVX-512 VPOPCNTDQ only.
//
// A Store receives the dot products: `row(i)` once per row of C and per call, then
// `store(row, j, dots, mask)` for 8 columns from j (`mask`: those that exist), so that a caller
// can turn them into its own output without writing C (binary_conv2d_epilogue). Int32Store
// writes C.

#include <algorithm>
#include <cstdint>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define LOWBIT_NARROW_GEMM 1
#endif

namespace lowbit::kernels::cpu {

constexpr int64_t kNarrowGemmBytes = 384 << 10;  // the largest transposed B

// Whether the narrow path takes an [m, words] x [n, words] product (the ISA aside).
inline bool narrow_gemm_fits(int64_t m, int64_t n, int64_t words) {
  return words * n * 8 <= kNarrowGemmBytes && n >= 8 && m > 1;
}

#if LOWBIT_NARROW_GEMM
namespace narrow {

#define LOWBIT_NARROW_TARGET __attribute__((target("avx512f,avx512vl,avx512vpopcntdq")))

// GCC 12's AVX-512 intrinsics merge into _mm512_undefined_*() values, which -Wuninitialized and
// -Wmaybe-uninitialized flag.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

struct Int32Store {
  int32_t* c;
  int64_t ldc;
  LOWBIT_NARROW_TARGET int32_t* row(int64_t i) const { return c + i * ldc; }
  LOWBIT_NARROW_TARGET void store(int32_t* row, int64_t j, __m256i dots, __mmask8 mask) const {
    _mm256_mask_storeu_epi32(row + j, mask, dots);
  }
};

// RA rows of A from row i0 x JB vectors (8 JB columns) from column j0; `last`: the columns of
// the last vector that exist.
template <int RA, int JB, typename Store>
LOWBIT_NARROW_TARGET void block(const uint64_t* a, const uint64_t* bt, int64_t words, int64_t n, int64_t k, int64_t i0,
                                int64_t j0, __mmask8 last, const Store& out) {
  __m512i acc[RA][JB];
  for (int i = 0; i < RA; ++i) {
    for (int v = 0; v < JB; ++v) acc[i][v] = _mm512_setzero_si512();
  }
  const uint64_t* rows = a + i0 * words;
  for (int64_t w = 0; w < words; ++w) {
    __m512i b[JB];
    for (int v = 0; v < JB; ++v) {
      b[v] = _mm512_maskz_loadu_epi64(v == JB - 1 ? last : __mmask8(0xff), bt + w * n + j0 + 8 * v);
    }
    for (int i = 0; i < RA; ++i) {
      const __m512i x = _mm512_set1_epi64(static_cast<int64_t>(rows[i * words + w]));
      for (int v = 0; v < JB; ++v) acc[i][v] = _mm512_add_epi64(acc[i][v], _mm512_popcnt_epi64(_mm512_xor_si512(x, b[v])));
    }
  }
  const __m256i kk = _mm256_set1_epi32(static_cast<int32_t>(k));
  for (int i = 0; i < RA; ++i) {
    const auto row = out.row(i0 + i);
    for (int v = 0; v < JB; ++v) {
      const __m256i dots = _mm256_sub_epi32(kk, _mm256_slli_epi32(_mm512_cvtepi64_epi32(acc[i][v]), 1));
      out.store(row, j0 + 8 * v, dots, v == JB - 1 ? last : __mmask8(0xff));
    }
  }
}
#pragma GCC diagnostic pop

// C rows [i_begin, i_end) of a [m, words] x [n, words]^T product, B given transposed ([words, n]):
// 4 rows at a time, 32 columns at a time.
template <typename Store>
void rows(const uint64_t* a, const uint64_t* bt, int64_t words, int64_t n, int64_t k, int64_t i_begin, int64_t i_end,
          const Store& out) {
  constexpr int kRows = 4, kVectors = 4;
  using Fn = void (*)(const uint64_t*, const uint64_t*, int64_t, int64_t, int64_t, int64_t, int64_t, __mmask8,
                      const Store&);
  static constexpr Fn kFull[kVectors] = {block<kRows, 1, Store>, block<kRows, 2, Store>, block<kRows, 3, Store>,
                                         block<kRows, 4, Store>};
  static constexpr Fn kOne[kVectors] = {block<1, 1, Store>, block<1, 2, Store>, block<1, 3, Store>, block<1, 4, Store>};
  for (int64_t j0 = 0; j0 < n; j0 += 8 * kVectors) {
    const int64_t columns = std::min<int64_t>(8 * kVectors, n - j0);
    const int vectors = static_cast<int>((columns + 7) / 8);
    const auto last = static_cast<__mmask8>((1u << (columns - 8 * (vectors - 1))) - 1);
    int64_t i = i_begin;
    for (; i + kRows <= i_end; i += kRows) kFull[vectors - 1](a, bt, words, n, k, i, j0, last, out);
    for (; i < i_end; ++i) kOne[vectors - 1](a, bt, words, n, k, i, j0, last, out);
  }
}

}  // namespace narrow
#endif

}  // namespace lowbit::kernels::cpu
