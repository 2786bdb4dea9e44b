#pragma once
// train.amp, the precision of the forward pass:
//   off  : float32
//   fp16 : float16 autocast, CUDA only, with dynamic loss scaling (grad_scaler.h); `true` in a recipe
//   bf16 : bfloat16 autocast on the run's device, CPU or CUDA, without loss scaling (bfloat16 has
//          float32's exponent range, so small gradients do not underflow)
// The backward runs in the forward's dtypes; parameters, gradients and optimizer state stay float32.

#include <c10/core/DeviceType.h>

#include <string>

namespace lowbit::engine {

enum class Amp { Off, Float16, BFloat16 };

// "off" / "false", "fp16" / "true", "bf16".
Amp parse_amp(const std::string& name);
std::string to_string(Amp amp);

// Autocast of `amp` on `device` while alive (nothing for Amp::Off).
class AutocastScope {
 public:
  AutocastScope(Amp amp, c10::DeviceType device);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  bool enabled_;
  c10::DeviceType device_;
};

}  // namespace lowbit::engine
