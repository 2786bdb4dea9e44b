#pragma once
// File-system helpers on POSIX calls. lowbit avoids std::filesystem's operations: the PyPI
// LibTorch (libtorch.so, 2.11.0) exports its own copies of std::filesystem functions that
// interpose libstdc++'s in every program linking it, and some crash (remove_all, seen here).

#include <string>
#include <string_view>

namespace lowbit::util {

bool file_exists(const std::string& path);

// "a/b" from "a" and "b", without doubling the separator.
std::string join_path(const std::string& directory, const std::string& name);

// The first `count` bytes of `path` (all of it if shorter), to tell a file's format by its magic
// number; throws "<path>: cannot open (<reason>)" or "<path>: cannot read (<reason>)", e.g.
// "(Is a directory)".
std::string read_head(const std::string& path, size_t count);

// The first (up to) 4 bytes in hex, "89 50 4e 47", for "not a ... file (starts with ...)" errors.
std::string hex_prefix(std::string_view bytes);

}  // namespace lowbit::util
