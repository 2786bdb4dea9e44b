#include <lowbit/csrc/util/heap.h>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace lowbit::util {

bool keep_freed_memory_in_heap() {
#if defined(__GLIBC__)
  constexpr int kMmapThreshold = 256 << 20, kTrimThreshold = 1 << 30;
  return mallopt(M_MMAP_THRESHOLD, kMmapThreshold) == 1 && mallopt(M_TRIM_THRESHOLD, kTrimThreshold) == 1;
#else
  return false;
#endif
}

}  // namespace lowbit::util
