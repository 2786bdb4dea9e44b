#include <lowbit/csrc/engine/optim/mixed_precision.h>

#include <ATen/autocast_mode.h>
#include <c10/util/Exception.h>

namespace lowbit::engine {

Amp parse_amp(const std::string& name) {
  if (name == "off" || name == "false") return Amp::Off;
  if (name == "fp16" || name == "true") return Amp::Float16;
  if (name == "bf16") return Amp::BFloat16;
  TORCH_CHECK_VALUE(false, "mixed precision: expected off, fp16 or bf16 (or a boolean), got '", name, "'");
}

std::string to_string(Amp amp) {
  switch (amp) {
    case Amp::Off: return "off";
    case Amp::Float16: return "fp16";
    case Amp::BFloat16: return "bf16";
  }
  return "?";
}

AutocastScope::AutocastScope(Amp amp, c10::DeviceType device) : enabled_(amp != Amp::Off), device_(device) {
  if (!enabled_) return;
  at::autocast::set_autocast_dtype(device_, amp == Amp::Float16 ? at::kHalf : at::kBFloat16);
  at::autocast::set_autocast_enabled(device_, true);
}

AutocastScope::~AutocastScope() {
  if (!enabled_) return;
  at::autocast::set_autocast_enabled(device_, false);
  at::autocast::clear_cache();
}

}  // namespace lowbit::engine
