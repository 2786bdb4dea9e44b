#pragma once
// Vectorised CPU loops: LOWBIT_CPU_CLONES compiles a function for x86-64-v4 (AVX-512), x86-64-v3
// (AVX2 + FMA) and baseline x86-64, and the loader picks one from the CPU (GCC function
// multi-versioning; one copy elsewhere). FMA contracts a * b + c: a rounding, not a sign, differs.
// LOWBIT_SIMD (OpenMP's `simd`; the files under kernels/cpu compile with -fopenmp) vectorises a
// loop; LOWBIT_SIMD_SUM / LOWBIT_SIMD_MAX let its sum or max be reassociated.

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__linux__)
#define LOWBIT_CPU_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define LOWBIT_CPU_CLONES
#endif

#define LOWBIT_SIMD _Pragma("omp simd")
#define LOWBIT_SIMD_SUM(...) _Pragma(LOWBIT_SIMD_STRINGIFY(omp simd reduction(+ : __VA_ARGS__)))
#define LOWBIT_SIMD_MAX(...) _Pragma(LOWBIT_SIMD_STRINGIFY(omp simd reduction(max : __VA_ARGS__)))
#define LOWBIT_SIMD_STRINGIFY(x) #x

#include <array>
#include <cstdint>
#include <type_traits>

namespace lowbit::kernels::cpu {

// The sums of the kTerms terms that term(i) returns (a std::array<A, kTerms>) over [0, n), in double,
// with kLanes interleaved accumulators per term: a loop with one vector accumulator waits on the
// add's latency, these pipeline. A = double adds each term in double. A = float adds kBlock terms
// per lane in float before adding the lane's block sum in double: a few roundings of 2^-24 of a
// block's magnitude, for a quarter of the float-to-double conversions (loops with several sums of
// cheap terms are bound by them). Call it from a LOWBIT_CPU_CLONES function so that it vectorises
// for the clone's ISA.
template <int kTerms, typename Term>
__attribute__((always_inline)) inline std::array<double, kTerms> lane_sums(int64_t n, const Term& term) {
  using A = typename decltype(term(int64_t{}))::value_type;
  constexpr int kLanes = 16, kBlock = std::is_same_v<A, float> ? 4 : 1;
  double lanes[kTerms][kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes * kBlock <= n; i += kLanes * kBlock) {
    if constexpr (kBlock == 1) {  // double terms straight into the lanes (no block to clear each round)
      for (int j = 0; j < kLanes; ++j) {
        const std::array<A, kTerms> t = term(i + j);
        for (int k = 0; k < kTerms; ++k) lanes[k][j] += t[k];
      }
      continue;
    }
    A block[kTerms][kLanes] = {};
    for (int b = 0; b < kBlock; ++b) {
      for (int j = 0; j < kLanes; ++j) {
        const std::array<A, kTerms> t = term(i + b * kLanes + j);
        for (int k = 0; k < kTerms; ++k) block[k][j] += t[k];
      }
    }
    for (int k = 0; k < kTerms; ++k) {
      for (int j = 0; j < kLanes; ++j) lanes[k][j] += static_cast<double>(block[k][j]);
    }
  }
  std::array<double, kTerms> sums{};
  for (; i < n; ++i) {
    const std::array<A, kTerms> t = term(i);
    for (int k = 0; k < kTerms; ++k) sums[k] += static_cast<double>(t[k]);
  }
  for (int k = 0; k < kTerms; ++k) {
    for (int j = 0; j < kLanes; ++j) sums[k] += lanes[k][j];
  }
  return sums;
}

}  // namespace lowbit::kernels::cpu
