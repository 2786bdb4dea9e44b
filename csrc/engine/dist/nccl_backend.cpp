#include <lowbit/config.h>
#include <lowbit/csrc/engine/dist/backends.h>

#ifdef LOWBIT_WITH_CUDA
// As gloo_backend.cpp: the wheel's libtorch_cuda.so has NCCL built in; nccl.h is the CUDA
// toolkit's.
#define USE_C10D_NCCL 1
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

namespace lowbit::engine::dist {

#ifdef LOWBIT_WITH_CUDA

bool have_nccl() { return true; }

c10::intrusive_ptr<c10d::Backend> make_nccl(const c10::intrusive_ptr<c10d::Store>& store, const Environment& env,
                                            std::chrono::milliseconds timeout) {
  auto options = c10d::ProcessGroupNCCL::Options::create();
  options->timeout = timeout;
  return c10::make_intrusive<c10d::ProcessGroupNCCL>(store, static_cast<int>(env.rank), static_cast<int>(env.world_size),
                                                     options);
}

#else

bool have_nccl() { return false; }

c10::intrusive_ptr<c10d::Backend> make_nccl(const c10::intrusive_ptr<c10d::Store>&, const Environment&,
                                            std::chrono::milliseconds) {
  throw SetupError("backend nccl: this lowbit was built without CUDA; use distributed.backend: gloo");
}

#endif

}  // namespace lowbit::engine::dist
