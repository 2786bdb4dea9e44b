// ProcessGroupGloo.hpp declares its class only with USE_C10D_GLOO, which the torch wheel's CMake
// config does not set for its users; the wheel's libtorch_cpu.so has Gloo built in. Its Gloo
// headers come from Debian's libgloo-dev (the class holds Gloo objects by pointer only).
#define USE_C10D_GLOO 1

#include <lowbit/csrc/engine/dist/backends.h>

#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>

#include <cstdlib>

namespace lowbit::engine::dist {
namespace {

bool is_loopback(const std::string& address) {
  return address == "localhost" || address.rfind("127.", 0) == 0 || address == "::1";
}

}  // namespace

c10::intrusive_ptr<c10d::Backend> make_gloo(const c10::intrusive_ptr<c10d::Store>& store, const Environment& env,
                                            std::chrono::milliseconds timeout) {
  auto options = c10d::ProcessGroupGloo::Options::create_default(timeout);
  options->devices.clear();
  if (const char* interface = std::getenv("GLOO_SOCKET_IFNAME")) {
    options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(interface, false));
  } else if (is_loopback(env.master_addr)) {
    options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1", false));
  } else {
    options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice(false));
  }
  return c10::make_intrusive<c10d::ProcessGroupGloo>(store, static_cast<int>(env.rank), static_cast<int>(env.world_size),
                                                     options);
}

}  // namespace lowbit::engine::dist
