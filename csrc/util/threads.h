#pragma once
// Thread settings for lowbit's own worker threads.

namespace lowbit::util {

// Makes LibTorch's CPU ops run single-threaded when called from the calling thread, leaving every
// other thread as it is. For workers that are themselves the parallelism (data loading): intra-op
// threads inside each would oversubscribe the cores (measured: ImageNet train augmentation with 2
// workers on 2 cores ran 1.5-2.8x slower with LibTorch's default).
// at::set_num_threads(1) would not do: it also changes the count for threads started later and
// MKL's process-wide setting. With LibTorch's OpenMP backend the count is OpenMP's per-thread
// setting (at::get_num_threads() is omp_get_max_threads()), so this calls omp_set_num_threads(1)
// of the OpenMP runtime that LibTorch itself loaded (the PyPI wheel bundles its own libgomp). A
// no-op when LibTorch uses no OpenMP.
void use_one_torch_thread_here();

}  // namespace lowbit::util
