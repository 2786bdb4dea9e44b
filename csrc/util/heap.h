#pragma once
// The C heap's settings for lowbit's own programs (the `lowbit` command and the benchmarks); the
// library never changes them for a program that links it.
// LibTorch allocates CPU tensors with posix_memalign. glibc serves a block above its mmap threshold
// (128 KiB, rising with frees up to 32 MiB) by mmap and gives it back to the system when freed, and
// trims the heap's top above a threshold, so every training step faults the pages of its large
// tensors in again: measured with `bench/train_step_bench` on 2 threads, 3-20 % of a step (ResNet-18
// at ImageNet shapes, batch 16: 6 % binary, 8 % real; at CIFAR shapes, batch 128: 20 %, 17 %), and
// three quarters of an activation quantizer's time on a 205 MB tensor (`bench/quantizers_bench`). keep_freed_memory_in_heap() serves
// blocks up to 256 MiB from the heap and keeps up to 1 GiB of freed memory there, as caching
// allocators (jemalloc, tcmalloc, PyTorch's CUDA allocator) do: the process stays at its peak
// resident size instead of returning memory between steps.

namespace lowbit::util {

// Returns false, changing nothing, where the C library is not glibc.
bool keep_freed_memory_in_heap();

}  // namespace lowbit::util
