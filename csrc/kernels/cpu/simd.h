#pragma once
// Vectorised CPU loops: LOWBIT_CPU_CLONES compiles a function for AVX2 and for baseline x86-64, and
// the loader picks one from the CPU (GCC function multi-versioning; one copy elsewhere).
// LOWBIT_SIMD (OpenMP's `simd`; the files under kernels/cpu compile with -fopenmp) vectorises a
// loop; LOWBIT_SIMD_SUM / LOWBIT_SIMD_MAX let its sum or max be reassociated.

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__linux__)
#define LOWBIT_CPU_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define LOWBIT_CPU_CLONES
#endif

#define LOWBIT_SIMD _Pragma("omp simd")
#define LOWBIT_SIMD_SUM(...) _Pragma(LOWBIT_SIMD_STRINGIFY(omp simd reduction(+ : __VA_ARGS__)))
#define LOWBIT_SIMD_MAX(...) _Pragma(LOWBIT_SIMD_STRINGIFY(omp simd reduction(max : __VA_ARGS__)))
#define LOWBIT_SIMD_STRINGIFY(x) #x

#include <array>
#include <cstdint>

namespace lowbit::kernels::cpu {

// The sums of the kTerms terms that term(i) returns (a std::array<double, kTerms>) over [0, n), with
// kLanes interleaved accumulators per term: a loop with one vector accumulator waits on the add's
// latency, these pipeline. Call it from a LOWBIT_CPU_CLONES function so that it vectorises for AVX2.
template <int kTerms, typename Term>
__attribute__((always_inline)) inline std::array<double, kTerms> lane_sums(int64_t n, const Term& term) {
  constexpr int kLanes = 16;
  double lanes[kTerms][kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int j = 0; j < kLanes; ++j) {
      const std::array<double, kTerms> t = term(i + j);
      for (int k = 0; k < kTerms; ++k) lanes[k][j] += t[k];
    }
  }
  std::array<double, kTerms> sums{};
  for (; i < n; ++i) {
    const std::array<double, kTerms> t = term(i);
    for (int k = 0; k < kTerms; ++k) sums[k] += t[k];
  }
  for (int k = 0; k < kTerms; ++k) {
    for (int j = 0; j < kLanes; ++j) sums[k] += lanes[k][j];
  }
  return sums;
}

}  // namespace lowbit::kernels::cpu
