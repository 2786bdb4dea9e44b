#include "support/temp_dir.h"

#include <lowbit/csrc/util/files.h>

#include <c10/util/Exception.h>
#include <zlib.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <vector>

namespace lowbit::testing {

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string pattern = std::string(base && *base ? base : "/tmp") + "/lowbit-test-XXXXXX";
  std::vector<char> buffer(pattern.begin(), pattern.end());
  buffer.push_back('\0');
  TORCH_CHECK(::mkdtemp(buffer.data()) != nullptr, "mkdtemp(", pattern, ") failed");
  path_ = buffer.data();
}

TempDir::~TempDir() {
  try {
    util::remove_tree(path_);
  } catch (const c10::Error&) {  // a destructor does not throw; a leftover temp folder is harmless
  }
}

void TempDir::write(const std::string& name, const std::string& bytes, bool gzip) const {
  if (gzip) {
    gzFile f = gzopen(file(name).c_str(), "wb");
    TORCH_CHECK(f != nullptr, "cannot write ", file(name));
    gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
    gzclose(f);
  } else {
    std::ofstream(file(name), std::ios::binary) << bytes;
  }
}

std::string TempDir::make_dir(const std::string& name) const {
  TORCH_CHECK(::mkdir(file(name).c_str(), 0755) == 0, "cannot create ", file(name));
  return file(name);
}

}  // namespace lowbit::testing
