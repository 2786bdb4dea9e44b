#pragma once
// Bytes of CPU tensor memory in use, and their peak, while a CpuMemoryCounter is alive: it puts
// an allocator that counts in front of LibTorch's CPU allocator (c10::SetCPUAllocator) and
// restores the previous one when destroyed. Only memory allocated while it is alive is counted
// (and its release, whenever that happens). One counter at a time; LibTorch's CPU tensors only
// (not memory that oneDNN or OpenMP allocate on their own). For benchmarks and tests of what a
// layer keeps for its backward; CUDA has its own (c10::cuda::CUDACachingAllocator statistics).

#include <cstdint>
#include <memory>

namespace lowbit::util {

class CpuMemoryCounter {
 public:
  CpuMemoryCounter();
  ~CpuMemoryCounter();
  CpuMemoryCounter(const CpuMemoryCounter&) = delete;
  CpuMemoryCounter& operator=(const CpuMemoryCounter&) = delete;

  int64_t live_bytes() const;
  int64_t peak_bytes() const;  // the most live_bytes since construction or reset_peak()
  void reset_peak();           // peak := live

  struct Counts;

 private:
  std::shared_ptr<Counts> counts_;
  struct Installed;
  std::unique_ptr<Installed> installed_;
};

}  // namespace lowbit::util
