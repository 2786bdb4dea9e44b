#pragma once
// The c10d backends a ProcessGroup can use (process_group.cpp): Gloo for CPU tensors (and CUDA
// ones through host copies), NCCL for CUDA tensors when this lowbit was built with CUDA. Each is
// in a file of its own, the only ones that include the backend's headers.

#include <lowbit/csrc/engine/dist/environment.h>

#include <c10/util/intrusive_ptr.h>

#include <chrono>

namespace c10d {
class Backend;
class Store;
}  // namespace c10d

namespace lowbit::engine::dist {

// Gloo over TCP on the interface GLOO_SOCKET_IFNAME names, else the loopback when the master is
// local, else the address this host's name resolves to (as torch.distributed chooses).
c10::intrusive_ptr<c10d::Backend> make_gloo(const c10::intrusive_ptr<c10d::Store>& store, const Environment& env,
                                            std::chrono::milliseconds timeout);

// Whether make_nccl is available in this build.
bool have_nccl();
c10::intrusive_ptr<c10d::Backend> make_nccl(const c10::intrusive_ptr<c10d::Store>& store, const Environment& env,
                                            std::chrono::milliseconds timeout);

}  // namespace lowbit::engine::dist
