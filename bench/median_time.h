#pragma once
// The benchmarks' timer: the median wall time of `repeats` calls of `fn` after one warm-up call,
// in seconds; `sync` runs after each call (a CUDA synchronize, for GPU work).

#include <algorithm>
#include <chrono>
#include <functional>
#include <vector>

namespace lowbit::bench {

inline double median_seconds(const std::function<void()>& fn, int repeats, const std::function<void()>& sync = [] {}) {
  fn();
  sync();
  std::vector<double> times;
  for (int i = 0; i < repeats; ++i) {
    const auto start = std::chrono::steady_clock::now();
    fn();
    sync();
    times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  std::nth_element(times.begin(), times.begin() + repeats / 2, times.end());
  return times[repeats / 2];
}

}  // namespace lowbit::bench
