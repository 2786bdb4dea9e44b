#pragma once
// File-system helpers on POSIX calls. lowbit avoids std::filesystem's operations: the PyPI
// LibTorch (libtorch.so, 2.11.0) exports its own copies of std::filesystem functions that
// interpose libstdc++'s in every program linking it, and some crash (remove_all, seen here).

#include <string>
#include <vector>

namespace lowbit::util {

bool file_exists(const std::string& path);

// "a/b" from "a" and "b", without doubling the separator.
std::string join_path(const std::string& directory, const std::string& name);

// The bytes of `path`; throws "<path>: cannot open (<reason>)" or "<path>: read failed (<reason>)".
std::string read_file(const std::string& path);

struct DirectoryEntry {
  std::string name;
  bool is_directory;  // after following symbolic links
};

// The entries of `directory` except "." and "..", sorted by name (byte order, as Python's
// sorted()); throws "<directory>: cannot list (<reason>)".
std::vector<DirectoryEntry> list_directory(const std::string& directory);

}  // namespace lowbit::util
