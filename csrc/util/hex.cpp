#include <lowbit/csrc/util/hex.h>

#include <algorithm>
#include <cstdio>

namespace lowbit::util {

std::string hex_prefix(const std::string& bytes, size_t count) {
  std::string out;
  char hex[4];
  for (size_t i = 0; i < std::min(count, bytes.size()); ++i) {
    std::snprintf(hex, sizeof(hex), "%s%02x", i ? " " : "", static_cast<unsigned char>(bytes[i]));
    out += hex;
  }
  return out;
}

}  // namespace lowbit::util
