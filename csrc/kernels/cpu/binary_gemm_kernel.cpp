#include <lowbit/csrc/kernels/binary_gemm.h>

#include <lowbit/csrc/kernels/cpu/narrow_gemm.h>

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <utility>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define LOWBIT_X86 1
#endif

namespace lowbit::kernels {
namespace cpu {
namespace binary_gemm_detail {  // named: unity builds join files
namespace {

constexpr int kTile = 4;             // output tile: kTile rows of A x kTile rows of B
constexpr int64_t kBlockBytes = 256 << 10;  // the B rows one task walks, to stay in L2 (>= 512 KiB on x86 today)

// ---- packing ----

// The bits of count <= 64 values: bit j = bit(x[j]).
template <typename T, typename Bit>
uint64_t pack_word(const T* x, int64_t count, const Bit& bit) {
  uint64_t word = 0;
  for (int64_t j = 0; j < count; ++j) word |= static_cast<uint64_t>(bit(x[j])) << j;
  return word;
}
template <typename T>
bool is_nonzero(T v) { return v != T(0); }

// A row of k values into words (the last one's unused bits 0), bit = bit(value).
template <typename T, typename Bit>
void pack_row(const T* x, int64_t k, uint64_t* words, const Bit& bit) {
  for (int64_t w = 0; w * 64 < k; ++w) words[w] = pack_word(x + w * 64, std::min<int64_t>(64, k - w * 64), bit);
}

// A row of k values, shifted by shift[j] (null: none), into sign words: bit j = x[j] + shift[j] < 0,
// the sum rounded to T as the shifted sign's kernel rounds it (csrc/ops/shifted_sign.h).
template <typename T>
void pack_shifted_tail(const T* x, const T* shift, int64_t begin, int64_t k, uint64_t* words) {
  for (int64_t w = begin / 64; w * 64 < k; ++w) {
    uint64_t word = 0;
    for (int64_t j = w * 64; j < std::min<int64_t>(k, w * 64 + 64); ++j) {
      const T v = shift ? T(x[j] + shift[j]) : x[j];
      word |= static_cast<uint64_t>(v < T(0)) << (j - w * 64);
    }
    words[w] = word;
  }
}

#if LOWBIT_X86
__attribute__((target("avx512f"))) void pack_row_avx512(const float* x, const float* shift, int64_t k,
                                                       uint64_t* words) {
  const __m512 zero = _mm512_setzero_ps();
  int64_t w = 0;
  for (; (w + 1) * 64 <= k; ++w) {
    uint64_t word = 0;
    for (int q = 0; q < 4; ++q) {
      __m512 v = _mm512_loadu_ps(x + w * 64 + q * 16);
      if (shift) v = _mm512_add_ps(v, _mm512_loadu_ps(shift + w * 64 + q * 16));
      const __mmask16 m = _mm512_cmp_ps_mask(v, zero, _CMP_LT_OQ);
      word |= static_cast<uint64_t>(m) << (16 * q);
    }
    words[w] = word;
  }
  pack_shifted_tail(x, shift, w * 64, k, words);
}

__attribute__((target("avx2"))) void pack_row_avx2(const float* x, const float* shift, int64_t k, uint64_t* words) {
  const __m256 zero = _mm256_setzero_ps();
  int64_t w = 0;
  for (; (w + 1) * 64 <= k; ++w) {
    uint64_t word = 0;
    for (int q = 0; q < 8; ++q) {
      __m256 v = _mm256_loadu_ps(x + w * 64 + q * 8);
      if (shift) v = _mm256_add_ps(v, _mm256_loadu_ps(shift + w * 64 + q * 8));
      const int m = _mm256_movemask_ps(_mm256_cmp_ps(v, zero, _CMP_LT_OQ));
      word |= static_cast<uint64_t>(static_cast<uint32_t>(m)) << (8 * q);
    }
    words[w] = word;
  }
  pack_shifted_tail(x, shift, w * 64, k, words);
}
#endif

template <typename T>
void pack_row_on(BinaryIsa, const T* x, const T* shift, int64_t k, uint64_t* words) {
  pack_shifted_tail(x, shift, 0, k, words);
}
void pack_row_on([[maybe_unused]] BinaryIsa isa, const float* x, const float* shift, int64_t k, uint64_t* words) {
#if LOWBIT_X86
  if (isa == BinaryIsa::Avx512) return pack_row_avx512(x, shift, k, words);
  if (isa == BinaryIsa::Popcnt) return pack_row_avx2(x, shift, k, words);
#endif
  pack_shifted_tail(x, shift, 0, k, words);
}

// ---- popcount tiles, one struct per path: Tile::run<RA, RB, PA, PB> writes the RA x RB dot
// products of a tile into C, with PA, PB the bit planes of an A and a B row (1: binary signs; 2:
// ternary signs then nonzeros). With x = a_sign XOR b_sign over a word, per pair of rows:
//   binary x binary : term = sum popcount(x)                       (the dot product is K - 2 term)
//   with a ternary  : term = sum popcount(m & ~x) - popcount(m & x),  m = the nonzeros of the
//                     ternary operand(s): the dot product itself (bits past K are 0 in m) ----

struct Operands {
  const uint64_t* a;  // row i at a + i * PA * words, its nonzero plane `words` further
  const uint64_t* b;  // row j at b + j * PB * words
  int64_t words;
  int64_t k;          // values per row
  int32_t* c;         // C[i][j] at c + i * ldc + j
  int64_t ldc;
};

// The dot product of a term (above).
template <int PA, int PB>
int32_t dot_of(int64_t term, int64_t k) {
  return static_cast<int32_t>(PA == 1 && PB == 1 ? k - 2 * term : term);
}

int popcount_reference(uint64_t v) {  // no popcount instruction: a nibble table
  static constexpr uint8_t kNibble[16] = {0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4};
  int count = 0;
  for (; v != 0; v >>= 4) count += kNibble[v & 15];
  return count;
}

// The term of word w of rows a and b (each at its sign plane), with `pop` the path's popcount.
template <int PA, int PB, typename Pop>
__attribute__((always_inline)) inline int64_t word_term(const uint64_t* a, const uint64_t* b, int64_t w,
                                                        int64_t words, const Pop& pop) {
  const uint64_t x = a[w] ^ b[w];
  if constexpr (PA == 1 && PB == 1) {
    return pop(x);
  } else {
    uint64_t m = ~uint64_t{0};
    if constexpr (PA == 2) m &= a[words + w];
    if constexpr (PB == 2) m &= b[words + w];
    return static_cast<int64_t>(pop(m & ~x)) - static_cast<int64_t>(pop(m & x));
  }
}

struct ReferenceTile {
  template <int RA, int RB, int PA, int PB>
  static void run(const Operands& o) {
    for (int i = 0; i < RA; ++i) {
      for (int j = 0; j < RB; ++j) {
        int64_t term = 0;
        for (int64_t w = 0; w < o.words; ++w) {
          term += word_term<PA, PB>(o.a + i * PA * o.words, o.b + j * PB * o.words, w, o.words, popcount_reference);
        }
        o.c[i * o.ldc + j] = dot_of<PA, PB>(term, o.k);
      }
    }
  }
};

#if LOWBIT_X86
struct PopcntTile {
  template <int RA, int RB, int PA, int PB>
  __attribute__((target("popcnt,avx2"))) static void run(const Operands& o) {
    const auto pop = [](uint64_t v) { return __builtin_popcountll(v); };  // one instruction here
    int64_t acc[RA][RB] = {};
    for (int64_t w = 0; w < o.words; ++w) {
      for (int i = 0; i < RA; ++i) {
        for (int j = 0; j < RB; ++j) {
          acc[i][j] += word_term<PA, PB>(o.a + i * PA * o.words, o.b + j * PB * o.words, w, o.words, pop);
        }
      }
    }
    for (int i = 0; i < RA; ++i) {
      for (int j = 0; j < RB; ++j) o.c[i * o.ldc + j] = dot_of<PA, PB>(acc[i][j], o.k);
    }
  }
};

// GCC 12's AVX-512 intrinsics merge into _mm512_undefined_*() values, which -Wuninitialized and
// -Wmaybe-uninitialized flag.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

// The 8 lane sums of v0..v7 as one vector (lane i: the sum of vi): a transposing tree of 7 adds,
// instead of 8 separate horizontal sums (about 3x the instructions; at K = 1024 a 4 x 4 tile's
// horizontal sums would cost as much as its popcounts).
__attribute__((target("avx512f"))) inline __m512i pair_sums(__m512i a, __m512i b) {  // per 128 bits: {a, b}
  return _mm512_add_epi64(_mm512_unpacklo_epi64(a, b), _mm512_unpackhi_epi64(a, b));
}
__attribute__((target("avx512f"))) inline __m512i half_sums(__m512i a, __m512i b) {  // 128-bit lanes 0+1, 2+3
  return _mm512_add_epi64(_mm512_shuffle_i64x2(a, b, _MM_SHUFFLE(2, 0, 2, 0)),
                          _mm512_shuffle_i64x2(a, b, _MM_SHUFFLE(3, 1, 3, 1)));
}
__attribute__((target("avx512f"))) inline __m512i lane_sums8(__m512i v0, __m512i v1, __m512i v2, __m512i v3,
                                                             __m512i v4, __m512i v5, __m512i v6, __m512i v7) {
  return half_sums(half_sums(pair_sums(v0, v1), pair_sums(v2, v3)), half_sums(pair_sums(v4, v5), pair_sums(v6, v7)));
}

struct Avx512Tile {
  template <int RA, int RB, int PA, int PB>
  __attribute__((target("avx512f,avx512vl,avx512vpopcntdq"))) static void run(const Operands& o) {
    __m512i acc[kTile][kTile];  // those beyond RA x RB stay 0
    for (int i = 0; i < kTile; ++i) {
      for (int j = 0; j < kTile; ++j) acc[i][j] = _mm512_setzero_si512();
    }
    const __m512i ones = _mm512_set1_epi64(-1);
    for (int64_t w = 0; w < o.words; w += 8) {
      const __mmask8 mask = o.words - w >= 8 ? __mmask8(0xff) : static_cast<__mmask8>((1u << (o.words - w)) - 1);
      __m512i as[RA], az[RA], bs[RB], bz[RB];
      for (int i = 0; i < RA; ++i) {
        as[i] = _mm512_maskz_loadu_epi64(mask, o.a + i * PA * o.words + w);
        az[i] = PA == 2 ? _mm512_maskz_loadu_epi64(mask, o.a + (i * PA + 1) * o.words + w) : ones;
      }
      for (int j = 0; j < RB; ++j) {
        bs[j] = _mm512_maskz_loadu_epi64(mask, o.b + j * PB * o.words + w);
        bz[j] = PB == 2 ? _mm512_maskz_loadu_epi64(mask, o.b + (j * PB + 1) * o.words + w) : ones;
      }
      for (int i = 0; i < RA; ++i) {
        for (int j = 0; j < RB; ++j) {
          const __m512i x = _mm512_xor_si512(as[i], bs[j]);
          if constexpr (PA == 1 && PB == 1) {
            acc[i][j] = _mm512_add_epi64(acc[i][j], _mm512_popcnt_epi64(x));
          } else {
            const __m512i m = _mm512_and_si512(az[i], bz[j]);
            acc[i][j] = _mm512_sub_epi64(_mm512_add_epi64(acc[i][j], _mm512_popcnt_epi64(_mm512_andnot_si512(x, m))),
                                         _mm512_popcnt_epi64(_mm512_and_si512(x, m)));
          }
        }
      }
    }
    // Rows (0, 1) and (2, 3) of terms as 8 int32 each, converted to dot products, stored 4 a row.
    static_assert(kTile == 4, "two lane_sums8 per tile");
    const __m256i halves[2] = {
        _mm512_cvtepi64_epi32(lane_sums8(acc[0][0], acc[0][1], acc[0][2], acc[0][3], acc[1][0], acc[1][1], acc[1][2], acc[1][3])),
        _mm512_cvtepi64_epi32(lane_sums8(acc[2][0], acc[2][1], acc[2][2], acc[2][3], acc[3][0], acc[3][1], acc[3][2], acc[3][3]))};
    const __mmask8 columns = static_cast<__mmask8>((1u << RB) - 1);
    for (int i = 0; i < RA; ++i) {
      __m256i h = halves[i / 2];
      if constexpr (PA == 1 && PB == 1) {
        h = _mm256_sub_epi32(_mm256_set1_epi32(static_cast<int32_t>(o.k)), _mm256_slli_epi32(h, 1));
      }
      const __m128i row = i % 2 == 0 ? _mm256_castsi256_si128(h) : _mm256_extracti128_si256(h, 1);
      _mm_mask_storeu_epi32(o.c + i * o.ldc, columns, row);
    }
  }
};
#pragma GCC diagnostic pop

#endif

// The tile function of a path for ra x rb rows (1..kTile each) of PA- and PB-plane operands.
using TileFn = void (*)(const Operands&);
using TileTable = std::array<std::array<TileFn, kTile>, kTile>;

template <typename Tile, int PA, int PB, int... R>
TileTable tiles_of(std::integer_sequence<int, R...>) {
  TileTable table{};
  ((table[R] = {&Tile::template run<R + 1, 1, PA, PB>, &Tile::template run<R + 1, 2, PA, PB>,
                &Tile::template run<R + 1, 3, PA, PB>, &Tile::template run<R + 1, 4, PA, PB>}),
   ...);
  return table;
}

template <typename Tile>
TileTable tiles_of(int planes_a, int planes_b) {
  const auto rows = std::make_integer_sequence<int, kTile>{};
  if (planes_a == 1) return planes_b == 1 ? tiles_of<Tile, 1, 1>(rows) : tiles_of<Tile, 1, 2>(rows);
  return planes_b == 1 ? tiles_of<Tile, 2, 1>(rows) : tiles_of<Tile, 2, 2>(rows);
}

TileTable tiles_for(BinaryIsa isa, int planes_a, int planes_b) {
#if LOWBIT_X86
  if (isa == BinaryIsa::Avx512) return tiles_of<Avx512Tile>(planes_a, planes_b);
  if (isa == BinaryIsa::Popcnt) return tiles_of<PopcntTile>(planes_a, planes_b);
#endif
  return tiles_of<ReferenceTile>(planes_a, planes_b);
}

}  // namespace
}  // namespace binary_gemm_detail

namespace binary_gemm_detail {

// x [rows, K] -> int64 [rows, planes, words]: the sign plane (of x + shift where shift, [K], is
// defined), then (planes 2) the nonzero plane.
at::Tensor pack_planes_of(const at::Tensor& x, int64_t planes, const at::Tensor& shift = {}) {
  const auto input = x.contiguous();
  const auto shifts = shift.defined() ? shift.to(input.scalar_type()).contiguous() : shift;
  const int64_t rows = input.size(0), k = input.size(1), words = (k + 63) / 64;
  auto out = at::empty({rows, planes, words}, input.options().dtype(at::kLong));
  auto* bits = reinterpret_cast<uint64_t*>(out.mutable_data_ptr<int64_t>());
  const BinaryIsa isa = cpu_binary_isa();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(), "pack_planes_cpu", [&] {
    const scalar_t* xp = input.const_data_ptr<scalar_t>();
    const scalar_t* sp = shifts.defined() ? shifts.const_data_ptr<scalar_t>() : nullptr;
    at::parallel_for(0, rows, std::max<int64_t>(1, 4096 / std::max<int64_t>(1, k)), [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        pack_row_on(isa, xp + r * k, sp, k, bits + r * planes * words);
        if (planes == 2) pack_row(xp + r * k, k, bits + (r * planes + 1) * words, is_nonzero<scalar_t>);
      }
    });
  });
  return out;
}

}  // namespace binary_gemm_detail

at::Tensor pack_sign_bits(const at::Tensor& x, const std::optional<at::Tensor>& shift) {
  return binary_gemm_detail::pack_planes_of(x, 1, shift.value_or(at::Tensor())).squeeze(1);
}

at::Tensor pack_ternary_bits(const at::Tensor& x) { return binary_gemm_detail::pack_planes_of(x, 2); }

at::Tensor binary_gemm(const at::Tensor& a_bits, const at::Tensor& b_bits, int64_t k, BinaryIsa isa) {
  namespace d = binary_gemm_detail;
  const auto a = a_bits.contiguous(), b = b_bits.contiguous();
  const int planes_a = a.dim() == 3 ? 2 : 1, planes_b = b.dim() == 3 ? 2 : 1;
  const int64_t m = a.size(0), n = b.size(0), words = a.size(-1);
  auto out = at::empty({m, n}, a.options().dtype(at::kInt));
#if LOWBIT_X86
  // The narrow path (cpu/narrow_gemm.h) where B is small: on a 3x3 convolution's GEMM over 512
  // channels (784 x 512 x 72 words) 1.53 ms against the tiles' 2.0-2.3 ms, over 256 channels
  // (3136 x 256 x 36) 1.57 against 1.61-1.86 ms; a 2 MiB B (256 x 4096 x 64) is faster on tiles.
  if (isa == BinaryIsa::Avx512 && planes_a == 1 && planes_b == 1 && narrow_gemm_fits(m, n, words)) {
    const auto bt = b.t().contiguous();
    const auto* ap = reinterpret_cast<const uint64_t*>(a.const_data_ptr<int64_t>());
    const auto* btp = reinterpret_cast<const uint64_t*>(bt.const_data_ptr<int64_t>());
    const narrow::Int32Store store{out.mutable_data_ptr<int32_t>(), n};
    at::parallel_for(0, m, 64, [&](int64_t begin, int64_t end) { narrow::rows(ap, btp, words, n, k, begin, end, store); });
    return out;
  }
#endif
  const auto tiles = d::tiles_for(isa, planes_a, planes_b);
  const auto* ap = reinterpret_cast<const uint64_t*>(a.const_data_ptr<int64_t>());
  const auto* bp = reinterpret_cast<const uint64_t*>(b.const_data_ptr<int64_t>());
  int32_t* cp = out.mutable_data_ptr<int32_t>();
  // Tasks: (block of B rows, tile of A rows), B-block-major, so that a thread's run of tasks walks
  // one B block (in L2) against consecutive A tiles. A single row of A (GEMV) splits B instead.
  const int64_t row_bytes = std::max<int64_t>(8, planes_b * words * 8);
  const int64_t block = std::max<int64_t>(d::kTile, d::kBlockBytes / row_bytes) / d::kTile * d::kTile;
  const int64_t a_tiles = (m + d::kTile - 1) / d::kTile, b_blocks = (n + block - 1) / block;
  at::parallel_for(0, a_tiles * b_blocks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t task = begin; task < end; ++task) {
      const int64_t i0 = (task % a_tiles) * d::kTile, j_begin = (task / a_tiles) * block;
      const int ra = static_cast<int>(std::min<int64_t>(d::kTile, m - i0));
      for (int64_t j0 = j_begin; j0 < std::min(n, j_begin + block); j0 += d::kTile) {
        const int rb = static_cast<int>(std::min<int64_t>(d::kTile, n - j0));
        tiles[ra - 1][rb - 1]({ap + i0 * planes_a * words, bp + j0 * planes_b * words, words, k, cp + i0 * n + j0, n});
      }
    }
  });
  return out;
}

}  // namespace cpu

BinaryIsa cpu_binary_isa() {
#if LOWBIT_X86
  static const BinaryIsa isa = [] {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512vpopcntdq")) {
      return BinaryIsa::Avx512;
    }
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("popcnt")) return BinaryIsa::Popcnt;
    return BinaryIsa::Reference;
  }();
  return isa;
#else
  return BinaryIsa::Reference;
#endif
}

std::string to_string(BinaryIsa isa) {
  switch (isa) {
    case BinaryIsa::Avx512: return "avx512-vpopcntdq";
    case BinaryIsa::Popcnt: return "popcnt";
    case BinaryIsa::Reference: break;
  }
  return "reference";
}

}  // namespace lowbit::kernels
