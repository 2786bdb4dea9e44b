#pragma once
// File-system helpers on POSIX calls. lowbit avoids std::filesystem's operations: the PyPI
// LibTorch (libtorch.so, 2.11.0) exports its own copies of std::filesystem functions that
// interpose libstdc++'s in every program linking it, and some crash (remove_all, seen here).

#include <string>

namespace lowbit::util {

bool file_exists(const std::string& path);

// "a/b" from "a" and "b", without doubling the separator.
std::string join_path(const std::string& directory, const std::string& name);

}  // namespace lowbit::util
