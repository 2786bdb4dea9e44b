#pragma once
// Bytes shown in error messages, e.g. "89 50 4e 47" for the start of a PNG file.

#include <string>

namespace lowbit::util {

// The first `count` bytes (or fewer, if `bytes` is shorter) as lower-case hex pairs separated by spaces.
std::string hex_prefix(const std::string& bytes, size_t count = 4);

}  // namespace lowbit::util
