#include <lowbit/csrc/util/threads.h>

#include <ATen/Parallel.h>

#include <dlfcn.h>

namespace lowbit::util {
namespace {

using SetNumThreads = void (*)(int);

// omp_set_num_threads as seen from the library that defines at::get_num_threads (libtorch_cpu):
// dlsym on its handle searches it and then its dependencies, so it finds LibTorch's OpenMP copy.
SetNumThreads torch_omp_set_num_threads() {
  Dl_info info{};
  if (::dladdr(reinterpret_cast<void*>(&at::get_num_threads), &info) == 0 || info.dli_fname == nullptr) return nullptr;
  void* torch_cpu = ::dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD);
  if (torch_cpu == nullptr) return nullptr;
  return reinterpret_cast<SetNumThreads>(::dlsym(torch_cpu, "omp_set_num_threads"));
}

}  // namespace

void use_one_torch_thread_here() {
  static const SetNumThreads set_num_threads = torch_omp_set_num_threads();
  at::get_num_threads();  // runs LibTorch's once-per-thread set-up first, which may set the count itself
  if (set_num_threads != nullptr) set_num_threads(1);
}

}  // namespace lowbit::util
