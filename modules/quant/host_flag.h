#pragma once
// A host copy of a quantizer's one-element flag buffer (qvit_act's `init_state` and `signed`, lsq's
// and ternary's `initialized`), re-read only after the buffer was written or replaced: an in-place
// write (fill_, copy_, torch::load's set_) moves its version counter, a move to another device
// (Module::to) or torch::load's set_data gives it new storage. A forward on CUDA then reads the
// flag without waiting for the device, while a loaded checkpoint is still seen.

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace lowbit::quant {

class HostFlag {
 public:
  bool get(const at::Tensor& buffer) {
    const void* data = buffer.const_data_ptr();
    const int64_t version = buffer._version();
    if (data != data_ || version != version_) {
      value_ = buffer.item<double>() != 0;
      data_ = data;
      version_ = version;
    }
    return value_;
  }

 private:
  const void* data_ = nullptr;
  int64_t version_ = -1;
  bool value_ = false;
};

}  // namespace lowbit::quant
