#pragma once
// Whole-file reads through zlib, which passes uncompressed files through unchanged.

#include <string>

namespace lowbit::data {

// The (decompressed) bytes of `path`; throws "<path>: cannot open (<reason>)" or a zlib error.
std::string read_maybe_gzipped(const std::string& path);

}  // namespace lowbit::data
