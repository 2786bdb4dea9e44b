// libFuzzer target for the .lbm parser (csrc/deploy/lbm_format.h), built with clang, ASan and UBSan
// by scripts/fuzz-lbm. The checksum check is off so that mutated inputs reach the records: every
// input must either parse or raise LbmError, and the codes records it parses must unpack
// (lbm_code_values); a crash, a read outside the input or undefined behaviour is a finding.
#include <lowbit/csrc/deploy/lbm_format.h>

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    for (const auto& r : lowbit::deploy::parse_lbm(data, size, "fuzz input", /*verify_checksum=*/false)) {
      if (r.kind == lowbit::deploy::LbmKind::Codes) lowbit::deploy::lbm_code_values(r);
    }
  } catch (const lowbit::deploy::LbmError&) {
  }
  return 0;
}
