// libFuzzer target for the .lbm parser (csrc/deploy/lbm_format.h), built with clang, ASan and UBSan
// by scripts/fuzz-lbm. The checksum check is off so that mutated inputs reach the records: every
// input must either parse or raise LbmError; a crash, a read outside the input or undefined
// behaviour is a finding.
#include <lowbit/csrc/deploy/lbm_format.h>

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    lowbit::deploy::parse_lbm(data, size, "fuzz input", /*verify_checksum=*/false);
  } catch (const lowbit::deploy::LbmError&) {
  }
  return 0;
}
