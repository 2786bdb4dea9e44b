// Packing into 64-bit words and the binary GEMM (kernels/binary_gemm.h) on CUDA.
//   pack:        a warp per word; lane l reads values 64 w + l and 64 w + 32 + l (coalesced), two
//                __ballot_sync give the word's halves.
//   popcount:    any GPU, binary and ternary rows: 64 x 64 outputs per block of 256 threads, 4 x 4
//                per thread, rows staged through shared memory 8 words at a time; per word
//                x = a XOR b, binary term popc(x), ternary popc(m & ~x) - popc(m & x) (binary_gemm.h).
//   tensor core: sm_80+, binary x binary: mma.sync m16n8k256 .b1 with .and.popc (the AND form runs
//                on sm_80 and sm_90 alike; XOR's is not the one sm_90 keeps). With p_a, p_b the
//                rows' popcounts (bit 1 = -1), popc(a XOR b) = p_a + p_b - 2 popc(a AND b), so
//                  a . b = K - 2 popc(a XOR b) = K - 2 p_a - 2 p_b + 4 popc(a AND b).
//                128 x 128 outputs per block of 8 warps, each warp 64 x 32 (4 x 4 MMAs), rows staged
//                1024 bits at a time.
// Both GEMMs put A's row tiles on gridDim.x (up to 2^31 - 1: an im2col of any batch) and B's on
// gridDim.y (up to 65535 tiles; the wrapper allows at most 65535 x 64 rows of B).
// Fragment layouts (PTX ISA, "Matrix Fragments for mma.m16n8k256", .b1 elements packed 32 to a
// .b32 register, element i at bit i; g = lane / 4, t = lane % 4):
//   A (16 x 256, row):  a0 row g, bits 32 t..; a1 row g + 8, bits 32 t..; a2 row g, bits 128 + 32 t..;
//                       a3 row g + 8, bits 128 + 32 t..
//   B (256 x 8, col):   b0 column g, bits 32 t..; b1 column g, bits 128 + 32 t..
//   C, D (16 x 8, s32): c0, c1 row g, columns 2 t, 2 t + 1; c2, c3 row g + 8, the same columns.
// Our rows are packed LSB first in little-endian 64-bit words, so as 32-bit words the bits of
// value j sit at word j / 32, bit j % 32: the registers are plain 32-bit loads.
#include <lowbit/csrc/kernels/cuda/dtype_dispatch.cuh>

#include <cstdint>

namespace lowbit::kernels::cuda {
namespace {

constexpr unsigned kFullMask = 0xffffffffu;

// ---- packing ----

template <typename T>
__global__ void pack_bits_kernel(const T* x, const T* shift, int64_t rows, int64_t k, int64_t words, int planes,
                                 uint64_t* out) {
  using A = typename Acc<T>::type;
  const int lane = threadIdx.x & 31;
  const int64_t warps = int64_t(gridDim.x) * (blockDim.x / 32);
  for (int64_t word = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) / 32; word < rows * words; word += warps) {
    const int64_t r = word / words, w = word % words;
    uint32_t negative[2], nonzero[2];
    for (int half = 0; half < 2; ++half) {
      const int64_t j = w * 64 + half * 32 + lane;
      A v = A(0);
      if (j < k) v = shift ? A(T(A(x[r * k + j]) + A(shift[j]))) : A(x[r * k + j]);  // rounded as shifted_sign
      negative[half] = __ballot_sync(kFullMask, v < A(0));
      nonzero[half] = __ballot_sync(kFullMask, v != A(0));
    }
    if (lane == 0) {
      out[r * planes * words + w] = uint64_t(negative[0]) | uint64_t(negative[1]) << 32;
      if (planes == 2) out[(r * planes + 1) * words + w] = uint64_t(nonzero[0]) | uint64_t(nonzero[1]) << 32;
    }
  }
}

// ---- popcount path ----

constexpr int kPopTile = 64;   // A rows and B rows per block
constexpr int kPopWords = 8;   // words staged per step
constexpr int kPopThreads = 256;

template <int PA, int PB>
__global__ void __launch_bounds__(kPopThreads)
    popcount_gemm_kernel(const uint64_t* a, const uint64_t* b, int32_t* c, int64_t m, int64_t n, int64_t words,
                         int64_t k) {
  __shared__ uint64_t as[PA][kPopTile][kPopWords + 1];
  __shared__ uint64_t bs[PB][kPopTile][kPopWords + 1];
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  const int64_t row0 = int64_t(blockIdx.x) * kPopTile, col0 = int64_t(blockIdx.y) * kPopTile;
  int acc[4][4] = {};
  for (int64_t w0 = 0; w0 < words; w0 += kPopWords) {
    for (int e = threadIdx.x; e < kPopTile * kPopWords; e += kPopThreads) {
      const int r = e / kPopWords, w = e % kPopWords;
      const bool in_words = w0 + w < words;
      for (int p = 0; p < PA; ++p) {
        as[p][r][w] = in_words && row0 + r < m ? a[((row0 + r) * PA + p) * words + w0 + w] : 0;
      }
      for (int p = 0; p < PB; ++p) {
        bs[p][r][w] = in_words && col0 + r < n ? b[((col0 + r) * PB + p) * words + w0 + w] : 0;
      }
    }
    __syncthreads();
#pragma unroll
    for (int w = 0; w < kPopWords; ++w) {
      uint64_t av[PA][4], bv[PB][4];
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        for (int p = 0; p < PA; ++p) av[p][i] = as[p][ty + 16 * i][w];
        for (int p = 0; p < PB; ++p) bv[p][i] = bs[p][tx + 16 * i][w];
      }
#pragma unroll
      for (int i = 0; i < 4; ++i) {
#pragma unroll
        for (int j = 0; j < 4; ++j) {
          const uint64_t x = av[0][i] ^ bv[0][j];
          if constexpr (PA == 1 && PB == 1) {
            acc[i][j] += __popcll(x);
          } else {
            uint64_t nz = ~uint64_t{0};
            if constexpr (PA == 2) nz &= av[1][i];
            if constexpr (PB == 2) nz &= bv[1][j];
            acc[i][j] += __popcll(nz & ~x) - __popcll(nz & x);
          }
        }
      }
    }
    __syncthreads();
  }
  for (int i = 0; i < 4; ++i) {
    for (int j = 0; j < 4; ++j) {
      const int64_t row = row0 + ty + 16 * i, col = col0 + tx + 16 * j;
      if (row < m && col < n) c[row * n + col] = PA == 1 && PB == 1 ? int32_t(k - 2 * acc[i][j]) : acc[i][j];
    }
  }
}

// ---- tensor-core path ----

// The popcount of each row of `bits` [rows, words]: a warp per row.
__global__ void row_popcounts_kernel(const uint64_t* bits, int64_t rows, int64_t words, int32_t* counts) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = int64_t(gridDim.x) * (blockDim.x / 32);
  for (int64_t r = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) / 32; r < rows; r += warps) {
    int count = 0;
    for (int64_t w = lane; w < words; w += 32) count += __popcll(bits[r * words + w]);
    for (int offset = 16; offset > 0; offset /= 2) count += __shfl_xor_sync(kFullMask, count, offset);
    if (lane == 0) counts[r] = count;
  }
}

constexpr int kMmaTile = 128;       // A rows and B rows per block
constexpr int kMmaWords = 16;       // 64-bit words staged per step: 1024 bits, four m16n8k256 steps
constexpr int kMmaStride = 2 * kMmaWords + 4;  // 32-bit words per staged row: 36, so that the 8 rows x
                                               // 4 words of a fragment load fall in 32 distinct banks
constexpr int kMmaThreads = 256;

__device__ __forceinline__ void mma_and_popc(int32_t (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile(
      "mma.sync.aligned.m16n8k256.row.col.s32.b1.b1.s32.and.popc "
      "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
      : "+r"(d[0]), "+r"(d[1]), "+r"(d[2]), "+r"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#else
  __trap();  // the launcher takes this path on sm_80 and later only
#endif
}

// `rows` rows of `bits` [.., words] from `row0`, words w0.. w0 + kMmaWords, into `staged`
// [kMmaTile][kMmaStride] 32-bit words; zeros beyond the matrix.
__device__ __forceinline__ void stage_rows(const uint64_t* bits, int64_t rows, int64_t words, int64_t row0,
                                           int64_t w0, uint32_t* staged) {
  for (int e = threadIdx.x; e < kMmaTile * kMmaWords; e += kMmaThreads) {
    const int r = e / kMmaWords, w = e % kMmaWords;
    const uint64_t v = row0 + r < rows && w0 + w < words ? bits[(row0 + r) * words + w0 + w] : 0;
    *reinterpret_cast<uint64_t*>(staged + r * kMmaStride + 2 * w) = v;
  }
}

__global__ void __launch_bounds__(kMmaThreads)
    tensor_core_gemm_kernel(const uint64_t* a, const uint64_t* b, const int32_t* a_counts, const int32_t* b_counts,
                            int32_t* c, int64_t m, int64_t n, int64_t words, int64_t k) {
  __shared__ __align__(16) uint32_t as[kMmaTile * kMmaStride];
  __shared__ __align__(16) uint32_t bs[kMmaTile * kMmaStride];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  const int warp_row = (warp / 4) * 64, warp_col = (warp % 4) * 32;
  const int64_t row0 = int64_t(blockIdx.x) * kMmaTile, col0 = int64_t(blockIdx.y) * kMmaTile;
  int32_t acc[4][4][4] = {};
  for (int64_t w0 = 0; w0 < words; w0 += kMmaWords) {
    stage_rows(a, m, words, row0, w0, as);
    stage_rows(b, n, words, col0, w0, bs);
    __syncthreads();
#pragma unroll
    for (int step = 0; step < kMmaWords / 4; ++step) {
      const int base = step * 8;  // 32-bit word of this 256-bit step
      uint32_t af[4][4], bf[4][2];
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const uint32_t* top = as + (warp_row + 16 * i + g) * kMmaStride + base + t;
        af[i][0] = top[0];
        af[i][1] = top[8 * kMmaStride];
        af[i][2] = top[4];
        af[i][3] = top[8 * kMmaStride + 4];
      }
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const uint32_t* column = bs + (warp_col + 8 * j + g) * kMmaStride + base + t;
        bf[j][0] = column[0];
        bf[j][1] = column[4];
      }
#pragma unroll
      for (int i = 0; i < 4; ++i) {
#pragma unroll
        for (int j = 0; j < 4; ++j) mma_and_popc(acc[i][j], af[i], bf[j]);
      }
    }
    __syncthreads();
  }
  for (int i = 0; i < 4; ++i) {
    for (int j = 0; j < 4; ++j) {
      for (int r = 0; r < 4; ++r) {
        const int64_t row = row0 + warp_row + 16 * i + g + 8 * (r / 2);
        const int64_t col = col0 + warp_col + 8 * j + 2 * t + r % 2;
        if (row < m && col < n) {
          c[row * n + col] = int32_t(k - 2 * int64_t(a_counts[row]) - 2 * int64_t(b_counts[col]) + 4 * int64_t(acc[i][j][r]));
        }
      }
    }
  }
}

unsigned blocks_of(int64_t count, int64_t per_block) {
  return static_cast<unsigned>((count + per_block - 1) / per_block);
}

}  // namespace

void launch_pack_bits(DType dtype, const void* x, const void* shift, int64_t rows, int64_t k, int planes,
                      uint64_t* out, cudaStream_t stream) {
  const int64_t words = (k + 63) / 64;
  if (rows * words == 0) return;
  dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    pack_bits_kernel<T><<<grid_for(rows * words * 32), kBlock, 0, stream>>>(
        static_cast<const T*>(x), static_cast<const T*>(shift), rows, k, words, planes, out);
  });
  check_launch("pack_bits");
}

void launch_binary_gemm(const uint64_t* a, const uint64_t* b, int32_t* c, const BinaryGemmLaunch& shape,
                        int32_t* row_counts, cudaStream_t stream) {
  const int64_t m = shape.m, n = shape.n, words = shape.words, k = shape.k;
  if (m == 0 || n == 0) return;
  if (row_counts) {  // the tensor cores
    row_popcounts_kernel<<<grid_for(m * 32), kBlock, 0, stream>>>(a, m, words, row_counts);
    row_popcounts_kernel<<<grid_for(n * 32), kBlock, 0, stream>>>(b, n, words, row_counts + m);
    const dim3 grid(blocks_of(m, kMmaTile), blocks_of(n, kMmaTile));
    tensor_core_gemm_kernel<<<grid, kMmaThreads, 0, stream>>>(a, b, row_counts, row_counts + m, c, m, n, words, k);
    check_launch("binary_gemm (tensor cores)");
    return;
  }
  const dim3 grid(blocks_of(m, kPopTile), blocks_of(n, kPopTile));
  const auto run = [&](auto kernel) { kernel<<<grid, kPopThreads, 0, stream>>>(a, b, c, m, n, words, k); };
  if (shape.planes_a == 1 && shape.planes_b == 1) run(popcount_gemm_kernel<1, 1>);
  else if (shape.planes_a == 1) run(popcount_gemm_kernel<1, 2>);
  else if (shape.planes_b == 1) run(popcount_gemm_kernel<2, 1>);
  else run(popcount_gemm_kernel<2, 2>);
  check_launch("binary_gemm (popcount)");
}

}  // namespace lowbit::kernels::cuda
