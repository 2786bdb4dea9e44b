#pragma once
// CRC-32C (Castagnoli; RFC 3720 appendix B.4, the checksum of iSCSI, ext4 and TFRecord):
// reflected polynomial 0x82F63B78, initial value and final XOR 0xFFFFFFFF.
// Check value: crc32c("123456789") = 0xE3069283. Debian packages no C/C++ CRC-32C library,
// hence this table-driven one (one byte per step, ample for log records).

#include <cstdint>
#include <string_view>

namespace lowbit::util {

uint32_t crc32c(std::string_view bytes);

}  // namespace lowbit::util
