#include <lowbit/csrc/util/files.h>

#include <c10/util/Exception.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace lowbit::util {

bool file_exists(const std::string& path) {
  struct stat info {};
  return ::stat(path.c_str(), &info) == 0;
}

std::string join_path(const std::string& directory, const std::string& name) {
  if (directory.empty()) return name;
  return directory.back() == '/' ? directory + name : directory + "/" + name;
}

std::string read_head(const std::string& path, size_t count) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  TORCH_CHECK(fd >= 0, path, ": cannot open (", std::strerror(errno), ")");
  std::string head(count, '\0');
  size_t filled = 0;
  while (filled < count) {
    const ssize_t n = ::read(fd, head.data() + filled, count - filled);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      const int error = errno;
      ::close(fd);
      TORCH_CHECK(false, path, ": cannot read (", std::strerror(error), ")");
    }
    filled += static_cast<size_t>(n);
  }
  ::close(fd);
  head.resize(filled);
  return head;
}

std::string hex_prefix(std::string_view bytes) {
  std::string out;
  char hex[4];
  for (size_t i = 0; i < std::min<size_t>(4, bytes.size()); ++i) {
    std::snprintf(hex, sizeof(hex), "%s%02x", i ? " " : "", static_cast<unsigned char>(bytes[i]));
    out += hex;
  }
  return out;
}

}  // namespace lowbit::util
