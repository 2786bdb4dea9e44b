#pragma once
// Tensors kept for a backward as bit planes, 8 elements per byte: element i is bit i % 8 of byte
// i / 8 of each plane (shared by the CPU and CUDA kernels; this header needs no LibTorch).
//   Signs    : plane 0 = 1[x > 0], plane 1 = 1[x != 0]; back to x = plane 1 ? (plane 0 ? +1 : -1) : 0,
//              exact for x in {-1, 0, +1} (sign(0) = 0, csrc/ops/ste.h): 2 bits instead of 32.
//   ClipMask : plane 0 = 1[|x| <= 1], the clipped straight-through estimator's pass-through mask.

#include <lowbit/csrc/ops/ste.h>  // LOWBIT_HOST_DEVICE

#include <cstdint>

namespace lowbit::ops {

enum class Planes : int { Signs = 0, ClipMask = 1 };

constexpr int plane_count(Planes kind) { return kind == Planes::Signs ? 2 : 1; }

constexpr int64_t plane_bytes(int64_t n) { return (n + 7) / 8; }

template <typename T>
LOWBIT_HOST_DEVICE inline bool plane_bit(T x, Planes kind, int plane) {
  if (kind == Planes::ClipMask) return (x < T(0) ? -x : x) <= T(1);
  return plane == 0 ? x > T(0) : x != T(0);
}

template <typename T>
LOWBIT_HOST_DEVICE inline T sign_value(bool positive, bool nonzero) {
  return nonzero ? (positive ? T(1) : T(-1)) : T(0);
}

}  // namespace lowbit::ops
