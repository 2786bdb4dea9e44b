#pragma once
// Binary GEMM on bit-packed +-1 values (XNOR-Net, Rastegari et al. 2016): for rows a, b of K
// values in {-1, +1}, packed one bit per value (bit = 1 for -1),
//   a . b = K - 2 popcount(a XOR b)
// exactly, in integers. Ternary rows (values in {-1, 0, +1}) add a plane of nonzero bits; with
// x = a_sign XOR b_sign and m = the nonzero plane(s) of the ternary operand(s),
//   a . b = popcount(m AND NOT x) - popcount(m AND x)
// (ternary x binary, binary x ternary, ternary x ternary). Rows are packed along K into 64-bit words (the last word's unused bits 0 in
// both operands, so they add nothing to the count).
// CPU: three paths, chosen at run time from CPUID (cpu_binary_isa): AVX-512 VPOPCNTDQ (8 words per
// instruction), the POPCNT instruction on one word (x86-64 with AVX2), and a portable reference
// (a byte table, no popcount instruction; the others are tested against it). Each computes 4 x 4
// output tiles with the B rows blocked to stay in L2, rows of A split over threads.
// CUDA (cuda/binary_gemm_kernel.cu): popcounts of 64-bit words on any GPU, binary and ternary; the
// b1 tensor-core MMA (AND + popcount) on sm_80 and later for binary x binary, which binary_gemm
// takes there.

#include <ATen/core/Tensor.h>

#include <optional>
#include <string>

namespace lowbit::kernels {

enum class BinaryIsa { Reference, Popcnt, Avx512 };
enum class CudaBinaryPath { Popcount, TensorCore };

// The fastest path this CPU runs.
BinaryIsa cpu_binary_isa();
std::string to_string(BinaryIsa isa);

// x: [rows, K] floating point -> int64 [rows, ceil(K / 64)], bit j of word w set where
// x[r, 64 w + j] < 0 (0 counts as +1, as XNOR-Net's and Larq's deployed sign). With `shift` ([K],
// one value per column, e.g. RSign's per-channel bias over pixels' channels), the signs of
// x + shift, the sum rounded to x's dtype as the shifted sign (csrc/ops/shifted_sign.h) rounds it.
at::Tensor pack_sign_bits(const at::Tensor& x, const std::optional<at::Tensor>& shift = std::nullopt);

// x: [rows, K] floating point -> int64 [rows, 2, ceil(K / 64)]: the sign plane as pack_sign_bits,
// then the nonzero plane (bit set where x != 0).
at::Tensor pack_ternary_bits(const at::Tensor& x);

// a_bits [M, W] or [M, 2, W], b_bits [N, W] or [N, 2, W] (pack_sign_bits / pack_ternary_bits of
// [M, K] and [N, K]) -> int32 [M, N] of the dot products of the rows: a @ b^T. `k` is K, the number
// of values; W >= ceil(K / 64), with every bit beyond the K values 0 in both operands
// (binary_conv.h pads each tap's run to whole words).
at::Tensor binary_gemm(const at::Tensor& a_bits, const at::Tensor& b_bits, int64_t k);

namespace cpu {
at::Tensor pack_sign_bits(const at::Tensor& x, const std::optional<at::Tensor>& shift);
at::Tensor pack_ternary_bits(const at::Tensor& x);
at::Tensor binary_gemm(const at::Tensor& a_bits, const at::Tensor& b_bits, int64_t k, BinaryIsa isa);
}  // namespace cpu
namespace cuda {
at::Tensor pack_sign_bits(const at::Tensor& x, const std::optional<at::Tensor>& shift);
at::Tensor pack_ternary_bits(const at::Tensor& x);
// The path binary_gemm takes for these operands: the tensor cores for binary x binary on sm_80+.
CudaBinaryPath binary_path(const at::Tensor& a_bits, const at::Tensor& b_bits);
// TensorCore for another pair of operands, or on an older GPU, is an error.
at::Tensor binary_gemm(const at::Tensor& a_bits, const at::Tensor& b_bits, int64_t k, CudaBinaryPath path);
}  // namespace cuda

}  // namespace lowbit::kernels
