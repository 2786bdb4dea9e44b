#pragma once
// File-system helpers on POSIX calls. lowbit avoids std::filesystem's operations: the PyPI
// LibTorch (libtorch.so, 2.11.0) exports its own copies of std::filesystem functions that
// interpose libstdc++'s in every program linking it, and some crash (remove_all, seen here).
// Every error names the path and the system's reason.

#include <string>
#include <string_view>
#include <vector>

namespace lowbit::util {

bool file_exists(const std::string& path);
bool is_directory(const std::string& path);  // after following symbolic links

// "a/b" from "a" and "b", without doubling the separator.
std::string join_path(const std::string& directory, const std::string& name);

// Creates `path` and its missing parents (mkdir -p).
void make_directories(const std::string& path);

struct DirectoryEntry {
  std::string name;
  bool is_directory;  // after following symbolic links
};

// The entries of `directory` except "." and "..", sorted by name (byte order, as Python's
// sorted()); throws "<directory>: cannot list (<reason>)".
std::vector<DirectoryEntry> list_directory(const std::string& directory);


// The whole contents of `path`.
std::string read_file(const std::string& path);

// Replaces `path` by a file holding `bytes`, written under a temporary name and renamed, so a
// crash leaves either the old file or the new one, never a part of it.
void replace_file(const std::string& path, const std::string& bytes);

// Removes `path`; an absent file is not an error.
void remove_file(const std::string& path);

// Removes the folder `path` with everything in it (symbolic links themselves, not their targets);
// an absent folder is not an error.
void remove_tree(const std::string& path);

// A file written with write(2) and no user-space buffer: each write() reaches the kernel before
// it returns, so what was written survives the process being killed (a power cut needs fsync,
// which this does not do).
class OutputFile {
 public:
  enum class Mode {
    Truncate,   // create or empty
    Append,     // create or continue
    CreateNew,  // create; an existing file is an error (O_EXCL)
  };
  OutputFile(std::string path, Mode mode);
  ~OutputFile();
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;

  // Writes all of `bytes` at the end of the file (O_APPEND in every mode).
  void write(std::string_view bytes);
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int fd_;
};
// The first `count` bytes of `path` (all of it if shorter), to tell a file's format by its magic
// number; throws "<path>: cannot open (<reason>)" or "<path>: cannot read (<reason>)", e.g.
// "(Is a directory)".
std::string read_head(const std::string& path, size_t count);

// The first (up to) 4 bytes in hex, "89 50 4e 47", for "not a ... file (starts with ...)" errors.
std::string hex_prefix(std::string_view bytes);

}  // namespace lowbit::util
