#include <lowbit/csrc/engine/datasets/decoding_threads.h>

#include <lowbit/csrc/engine/dist/environment.h>

#include <algorithm>
#include <thread>

namespace lowbit::engine {

int64_t decoding_threads(int64_t workers) {
  if (workers > 0) return workers;
  // hardware_concurrency() may be 0 when the count is not known.
  const auto hardware = static_cast<int64_t>(std::thread::hardware_concurrency());
  return std::max<int64_t>(1, hardware / dist::read_environment().local_world_size);
}

}  // namespace lowbit::engine
