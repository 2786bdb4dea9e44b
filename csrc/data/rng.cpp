#include <lowbit/csrc/data/rng.h>

#include <c10/util/Exception.h>

#include <cmath>
#include <limits>

namespace lowbit::data {
namespace {

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

uint64_t mix_seed(uint64_t seed, uint64_t a, uint64_t b) {
  return splitmix64(splitmix64(splitmix64(seed) ^ a) ^ b);
}

double Rng::uniform(double low, double high) {
  const double u = static_cast<double>(engine_() >> 11) * 0x1.0p-53;
  return low + (high - low) * u;
}

int64_t Rng::integer(int64_t low, int64_t high) {
  TORCH_CHECK(low <= high, "Rng::integer: empty range [", low, ", ", high, "]");
  // 0 when [low, high] is all of int64 (unsigned arithmetic wraps, signed would overflow).
  const uint64_t range = static_cast<uint64_t>(high) - static_cast<uint64_t>(low) + 1;
  if (range == 0) return static_cast<int64_t>(engine_());
  const uint64_t max = std::numeric_limits<uint64_t>::max();
  const uint64_t limit = max - (max - range + 1) % range;  // draws above it would favour small values
  uint64_t x;
  do {
    x = engine_();
  } while (x > limit);
  return static_cast<int64_t>(static_cast<uint64_t>(low) + x % range);
}

double Rng::normal() {
  const double u1 = uniform();
  const double u2 = uniform();
  return std::sqrt(-2.0 * std::log1p(-u1)) * std::cos(2.0 * M_PI * u2);
}

}  // namespace lowbit::data
