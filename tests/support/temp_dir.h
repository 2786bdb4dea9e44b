#pragma once
// A fresh directory under $TMPDIR (or /tmp), removed with its contents on destruction.
// POSIX calls only: see csrc/util/files.h on std::filesystem and LibTorch.

#include <string>

namespace lowbit::testing {

class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  // Writes `bytes` to file(name), gzip-compressed if `gzip`.
  void write(const std::string& name, const std::string& bytes, bool gzip = false) const;
  // Creates the folder file(name) (its parent must exist) and returns its path.
  std::string make_dir(const std::string& name) const;

 private:
  std::string path_;
};

}  // namespace lowbit::testing
