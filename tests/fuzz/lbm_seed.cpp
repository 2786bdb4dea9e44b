// Writes the fuzzer's seed (scripts/fuzz-lbm): a valid .lbm with one record of each kind.
#include <lowbit/csrc/deploy/lbm_format.h>

#include <cstdio>
#include <vector>

int main(int argc, char** argv) {
  using lowbit::deploy::LbmKind;
  if (argc != 2) return 2;
  const std::vector<lowbit::deploy::LbmRecord> records = {
      {"model", LbmKind::Text, {4}, {}, {'r', 'e', 's', 'n'}},
      {"conv.weight", LbmKind::Binary, {2, 70}, {0.5f, 2.f}, std::vector<uint8_t>(2 * 2 * 8, 0x3c)},
      {"attn.weight", LbmKind::Ternary, {3, 8}, {0.25f}, std::vector<uint8_t>(2 * 3 * 8, 0x81)},
      {"fc.bias", LbmKind::Float32, {2}, {}, std::vector<uint8_t>(8, 0)},
      lowbit::deploy::lbm_codes_record("fc.weight", {2, 3}, {-8, 7, 0, 1, -1, 3}, 4, 8, {0.5f, 0.25f}, {0.1f})};
  const auto bytes = lowbit::deploy::serialize_lbm(records);
  FILE* f = std::fopen(argv[1], "wb");
  if (f == nullptr) return 1;
  const bool ok = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
  return std::fclose(f) == 0 && ok ? 0 : 1;
}
