#include <lowbit/csrc/kernels/binary_gemm.h>

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

template <typename T>
uint64_t pack_word(const T* x, int64_t count) {  // count <= 64 values; bit j: x[j] < 0
  uint64_t word = 0;
  for (int64_t j = 0; j < count; ++j) word |= static_cast<uint64_t>(x[j] < T(0)) << j;
  return word;
}

#if LOWBIT_X86
__attribute__((target("avx512f"))) void pack_row_avx512(const float* x, int64_t k, uint64_t* words) {
  const __m512 zero = _mm512_setzero_ps();
  int64_t w = 0;
  for (; (w + 1) * 64 <= k; ++w) {
    uint64_t word = 0;
    for (int q = 0; q < 4; ++q) {
      const __mmask16 m = _mm512_cmp_ps_mask(_mm512_loadu_ps(x + w * 64 + q * 16), zero, _CMP_LT_OQ);
      word |= static_cast<uint64_t>(m) << (16 * q);
    }
    words[w] = word;
  }
  if (w * 64 < k) words[w] = pack_word(x + w * 64, k - w * 64);
}

__attribute__((target("avx2"))) void pack_row_avx2(const float* x, int64_t k, uint64_t* words) {
  const __m256 zero = _mm256_setzero_ps();
  int64_t w = 0;
  for (; (w + 1) * 64 <= k; ++w) {
    uint64_t word = 0;
    for (int q = 0; q < 8; ++q) {
      const int m = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(x + w * 64 + q * 8), zero, _CMP_LT_OQ));
      word |= static_cast<uint64_t>(static_cast<uint32_t>(m)) << (8 * q);
    }
    words[w] = word;
  }
  if (w * 64 < k) words[w] = pack_word(x + w * 64, k - w * 64);
}
#endif

template <typename T>
void pack_row(const T* x, int64_t k, uint64_t* words) {
  for (int64_t w = 0; w * 64 < k; ++w) words[w] = pack_word(x + w * 64, std::min<int64_t>(64, k - w * 64));
}

template <typename T>
void pack_row_on(BinaryIsa, const T* x, int64_t k, uint64_t* words) {
  pack_row(x, k, words);
}
void pack_row_on([[maybe_unused]] BinaryIsa isa, const float* x, int64_t k, uint64_t* words) {
#if LOWBIT_X86
  if (isa == BinaryIsa::Avx512) return pack_row_avx512(x, k, words);
  if (isa == BinaryIsa::Popcnt) return pack_row_avx2(x, k, words);
#endif
  pack_row(x, k, words);
}

// ---- popcount tiles, one struct per path: Tile::run<RA, RB> sets pops[i][j] = popcount(a_i XOR b_j)
// over `words` words for RA x RB rows ----

struct Operands {
  const uint64_t* a;  // row i at a + i * words
  const uint64_t* b;  // row j at b + j * words
  int64_t words;
};
using Pops = std::array<std::array<int64_t, kTile>, kTile>;

int popcount_reference(uint64_t v) {  // no popcount instruction: a nibble table
  static constexpr uint8_t kNibble[16] = {0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4};
  int count = 0;
  for (; v != 0; v >>= 4) count += kNibble[v & 15];
  return count;
}

struct ReferenceTile {
  template <int RA, int RB>
  static void run(const Operands& o, Pops& pops) {
    for (int i = 0; i < RA; ++i) {
      for (int j = 0; j < RB; ++j) {
        int64_t count = 0;
        for (int64_t w = 0; w < o.words; ++w) count += popcount_reference(o.a[i * o.words + w] ^ o.b[j * o.words + w]);
        pops[i][j] = count;
      }
    }
  }
};

#if LOWBIT_X86
struct PopcntTile {
  template <int RA, int RB>
  __attribute__((target("popcnt,avx2"))) static void run(const Operands& o, Pops& pops) {
    int64_t acc[RA][RB] = {};
    for (int64_t w = 0; w < o.words; ++w) {
      uint64_t bw[RB];
      for (int j = 0; j < RB; ++j) bw[j] = o.b[j * o.words + w];
      for (int i = 0; i < RA; ++i) {
        const uint64_t aw = o.a[i * o.words + w];
        for (int j = 0; j < RB; ++j) acc[i][j] += __builtin_popcountll(aw ^ bw[j]);
      }
    }
    for (int i = 0; i < RA; ++i) {
      for (int j = 0; j < RB; ++j) pops[i][j] = acc[i][j];
    }
  }
};

// GCC 12's AVX-512 intrinsics merge into _mm512_undefined_*() values, which -Wuninitialized flags.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"

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
  template <int RA, int RB>
  __attribute__((target("avx512f,avx512vpopcntdq"))) static void run(const Operands& o, Pops& pops) {
    __m512i acc[kTile][kTile];  // those beyond RA x RB stay 0
    for (int i = 0; i < kTile; ++i) {
      for (int j = 0; j < kTile; ++j) acc[i][j] = _mm512_setzero_si512();
    }
    for (int64_t w = 0; w < o.words; w += 8) {
      const __mmask8 mask = o.words - w >= 8 ? __mmask8(0xff) : static_cast<__mmask8>((1u << (o.words - w)) - 1);
      __m512i av[RA], bv[RB];
      for (int i = 0; i < RA; ++i) av[i] = _mm512_maskz_loadu_epi64(mask, o.a + i * o.words + w);
      for (int j = 0; j < RB; ++j) bv[j] = _mm512_maskz_loadu_epi64(mask, o.b + j * o.words + w);
      for (int i = 0; i < RA; ++i) {
        for (int j = 0; j < RB; ++j) {
          acc[i][j] = _mm512_add_epi64(acc[i][j], _mm512_popcnt_epi64(_mm512_xor_si512(av[i], bv[j])));
        }
      }
    }
    static_assert(kTile == 4, "two lane_sums8 per tile");
    alignas(64) int64_t sums[kTile * kTile];
    _mm512_store_si512(sums, lane_sums8(acc[0][0], acc[0][1], acc[0][2], acc[0][3], acc[1][0], acc[1][1], acc[1][2], acc[1][3]));
    _mm512_store_si512(sums + 8, lane_sums8(acc[2][0], acc[2][1], acc[2][2], acc[2][3], acc[3][0], acc[3][1], acc[3][2], acc[3][3]));
    for (int i = 0; i < RA; ++i) {
      for (int j = 0; j < RB; ++j) pops[i][j] = sums[i * kTile + j];
    }
  }
};
#pragma GCC diagnostic pop
#endif

// The tile function of a path for ra x rb rows (1..kTile each).
using TileFn = void (*)(const Operands&, Pops&);

template <typename Tile, int... R>
std::array<std::array<TileFn, kTile>, kTile> tiles_of(std::integer_sequence<int, R...>) {
  std::array<std::array<TileFn, kTile>, kTile> table{};
  ((table[R] = {&Tile::template run<R + 1, 1>, &Tile::template run<R + 1, 2>, &Tile::template run<R + 1, 3>,
                &Tile::template run<R + 1, 4>}),
   ...);
  return table;
}

std::array<std::array<TileFn, kTile>, kTile> tiles_for(BinaryIsa isa) {
  const auto rows = std::make_integer_sequence<int, kTile>{};
#if LOWBIT_X86
  if (isa == BinaryIsa::Avx512) return tiles_of<Avx512Tile>(rows);
  if (isa == BinaryIsa::Popcnt) return tiles_of<PopcntTile>(rows);
#endif
  return tiles_of<ReferenceTile>(rows);
}

}  // namespace
}  // namespace binary_gemm_detail

at::Tensor pack_sign_bits(const at::Tensor& x) {
  namespace d = binary_gemm_detail;
  const auto input = x.contiguous();
  const int64_t rows = input.size(0), k = input.size(1), words = (k + 63) / 64;
  auto out = at::empty({rows, words}, input.options().dtype(at::kLong));
  auto* bits = reinterpret_cast<uint64_t*>(out.mutable_data_ptr<int64_t>());
  const BinaryIsa isa = cpu_binary_isa();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(), "pack_sign_bits_cpu", [&] {
    const scalar_t* xp = input.const_data_ptr<scalar_t>();
    at::parallel_for(0, rows, std::max<int64_t>(1, 4096 / std::max<int64_t>(1, k)), [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        d::pack_row_on(isa, xp + r * k, k, bits + r * words);
      }
    });
  });
  return out;
}

at::Tensor binary_gemm(const at::Tensor& a_bits, const at::Tensor& b_bits, int64_t k, BinaryIsa isa) {
  namespace d = binary_gemm_detail;
  const auto a = a_bits.contiguous(), b = b_bits.contiguous();
  const int64_t m = a.size(0), n = b.size(0), words = a.size(1);
  auto out = at::empty({m, n}, a.options().dtype(at::kInt));
  const auto tiles = d::tiles_for(isa);
  const auto* ap = reinterpret_cast<const uint64_t*>(a.const_data_ptr<int64_t>());
  const auto* bp = reinterpret_cast<const uint64_t*>(b.const_data_ptr<int64_t>());
  int32_t* cp = out.mutable_data_ptr<int32_t>();
  // Tasks: (block of B rows, tile of A rows), B-block-major, so that a thread's run of tasks walks
  // one B block (in L2) against consecutive A tiles. A single row of A (GEMV) splits B instead.
  const int64_t block = std::max<int64_t>(d::kTile, d::kBlockBytes / std::max<int64_t>(8, words * 8)) / d::kTile * d::kTile;
  const int64_t a_tiles = (m + d::kTile - 1) / d::kTile, b_blocks = (n + block - 1) / block;
  at::parallel_for(0, a_tiles * b_blocks, 1, [&](int64_t begin, int64_t end) {
    d::Pops pops{};
    for (int64_t task = begin; task < end; ++task) {
      const int64_t i0 = (task % a_tiles) * d::kTile, j_begin = (task / a_tiles) * block;
      const int ra = static_cast<int>(std::min<int64_t>(d::kTile, m - i0));
      for (int64_t j0 = j_begin; j0 < std::min(n, j_begin + block); j0 += d::kTile) {
        const int rb = static_cast<int>(std::min<int64_t>(d::kTile, n - j0));
        tiles[ra - 1][rb - 1]({ap + i0 * words, bp + j0 * words, words}, pops);
        for (int i = 0; i < ra; ++i) {
          for (int j = 0; j < rb; ++j) cp[(i0 + i) * n + j0 + j] = static_cast<int32_t>(k - 2 * pops[i][j]);
        }
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
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vpopcntdq")) return BinaryIsa::Avx512;
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
