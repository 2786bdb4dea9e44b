#include <lowbit/csrc/engine/datasets/decoding_threads.h>

#include <c10/util/Exception.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <string>
#include <thread>

namespace lowbit::engine {
namespace {

// LOCAL_WORLD_SIZE, or 1 when unset or empty.
int64_t local_processes() {
  const char* text = std::getenv("LOCAL_WORLD_SIZE");
  if (text == nullptr || *text == '\0') return 1;
  char* end = nullptr;
  errno = 0;
  const long long value = std::strtoll(text, &end, 10);
  TORCH_CHECK_VALUE(errno == 0 && *end == '\0' && value > 0,
                    "LOCAL_WORLD_SIZE (the number of training processes on this machine) must be a positive integer, "
                    "got '", text, "'");
  return value;
}

}  // namespace

int64_t decoding_threads(int64_t workers) {
  if (workers > 0) return workers;
  // hardware_concurrency() may be 0 when the count is not known.
  const auto hardware = static_cast<int64_t>(std::thread::hardware_concurrency());
  return std::max<int64_t>(1, hardware / local_processes());
}

}  // namespace lowbit::engine
