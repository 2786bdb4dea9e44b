// util::keep_freed_memory_in_heap (csrc/util/heap.h): a freed 64 MiB tensor stays in the heap for
// the next one instead of going back to the system.
#include <lowbit/csrc/util/heap.h>

#include <gtest/gtest.h>

#include <torch/torch.h>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace heap_test {  // named: the unity build joins test files

TEST(Heap, AFreedLargeTensorStaysInTheHeap) {
#if defined(__GLIBC__)
  ASSERT_TRUE(lowbit::util::keep_freed_memory_in_heap());
  const size_t bytes = size_t{64} << 20;
  { const auto t = torch::ones({static_cast<int64_t>(bytes / 4)}); }  // allocated, written, freed
  EXPECT_GE(mallinfo2().fordblks, bytes);  // free bytes held by the heap
#else
  EXPECT_FALSE(lowbit::util::keep_freed_memory_in_heap());
#endif
}

}  // namespace heap_test
