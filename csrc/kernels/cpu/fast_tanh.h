#pragma once
// tanh for the vectorised CPU loops (the library call does not vectorise; ATen's vectorised tanh is
// not reachable from lowbit's kernels). float: the Cephes tanhf / expf approximations (single-
// precision, a few units in the last place from the correctly rounded value); double: std::tanh.
//   |x| < 0.625: x + x^3 P(x^2)                    (odd minimax polynomial)
//   otherwise  : sign(x) (1 - 2 / (exp(2|x|) + 1)),  exp(r + n ln2) = 2^n E(r), |r| <= ln2 / 2

#include <cmath>
#include <cstdint>

namespace lowbit::kernels::cpu {

inline float fast_exp(float x) {  // x in [-88, 88]
  const float n = std::floor(x * 1.44269504088896341f + 0.5f);
  float r = x - n * 0.693359375f;
  r -= n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;  // 2^n
  return p * __builtin_bit_cast(float, bits);
}

inline float fast_tanh(float x) {
  const float magnitude = std::fabs(x);
  const float z = x * x;
  float p = -5.70498872745e-3f;
  p = p * z + 2.06390887954e-2f;
  p = p * z - 5.37397155531e-2f;
  p = p * z + 1.33314422036e-1f;
  p = p * z - 3.33332819422e-1f;
  const float small = p * z * x + x;
  const float e = fast_exp(2.0f * (magnitude < 9.0f ? magnitude : 9.0f));  // tanh(9) rounds to 1 in float
  const float large = std::copysign(1.0f - 2.0f / (e + 1.0f), x);
  return magnitude < 0.625f ? small : large;
}

inline double fast_tanh(double x) { return std::tanh(x); }

}  // namespace lowbit::kernels::cpu
