#pragma once
// Reproducible randomness for data augmentation. Every draw comes from a std::mt19937_64, whose
// output sequence the C++ standard fixes; the std:: distributions are implementation-defined, so
// the conversions to uniform, integer and normal draws are written out here. A sample's generator
// is seeded from (seed, epoch, sample index) alone, so its augmentation never depends on which
// thread ran it or when.

#include <cstdint>
#include <random>

namespace lowbit::data {

// SplitMix64's finaliser (Steele, Lea & Flood, "Fast splittable pseudorandom number generators",
// OOPSLA 2014) applied along the chain seed -> a -> b: nearby inputs give unrelated seeds.
uint64_t mix_seed(uint64_t seed, uint64_t a, uint64_t b);

class Rng {
 public:
  explicit Rng(uint64_t seed) : engine_(seed) {}

  // Uniform in [low, high): low + (high - low) * u, u = (top 53 bits of one draw) * 2^-53.
  double uniform(double low = 0.0, double high = 1.0);
  // Uniform integer in [low, high], both included; rejection sampling, so unbiased.
  int64_t integer(int64_t low, int64_t high);
  // Standard normal N(0, 1) by Box-Muller: sqrt(-2 ln(1 - u1)) * cos(2 pi u2).
  double normal();

 private:
  std::mt19937_64 engine_;
};

}  // namespace lowbit::data
