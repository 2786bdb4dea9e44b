#include <lowbit/csrc/util/files.h>

#include <c10/util/Exception.h>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

namespace lowbit::util {
namespace {

struct FileDescriptor {
  int fd;
  ~FileDescriptor() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

bool file_exists(const std::string& path) {
  struct stat info {};
  return ::stat(path.c_str(), &info) == 0;
}

std::string join_path(const std::string& directory, const std::string& name) {
  if (directory.empty()) return name;
  return directory.back() == '/' ? directory + name : directory + "/" + name;
}

std::string read_file(const std::string& path) {
  const FileDescriptor file{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  TORCH_CHECK(file.fd >= 0, path, ": cannot open (", std::strerror(errno), ")");
  struct stat info {};
  std::string bytes;
  if (::fstat(file.fd, &info) == 0 && info.st_size > 0) bytes.reserve(static_cast<size_t>(info.st_size));
  char buffer[1 << 16];
  ssize_t n;
  while ((n = ::read(file.fd, buffer, sizeof(buffer))) != 0) {
    if (n < 0 && errno == EINTR) continue;
    TORCH_CHECK(n > 0, path, ": read failed (", std::strerror(errno), ")");
    bytes.append(buffer, static_cast<size_t>(n));
  }
  return bytes;
}

std::vector<DirectoryEntry> list_directory(const std::string& directory) {
  std::unique_ptr<DIR, int (*)(DIR*)> dir(::opendir(directory.c_str()), ::closedir);
  TORCH_CHECK(dir != nullptr, directory, ": cannot list (", std::strerror(errno), ")");
  std::vector<DirectoryEntry> entries;
  errno = 0;
  while (const dirent* entry = ::readdir(dir.get())) {
    const std::string name = entry->d_name;
    if (name == "." || name == "..") continue;
    bool is_directory = entry->d_type == DT_DIR;
    // Links, and file systems that do not fill d_type, need a stat().
    if (entry->d_type == DT_LNK || entry->d_type == DT_UNKNOWN) {
      struct stat info {};
      is_directory = ::stat(join_path(directory, name).c_str(), &info) == 0 && S_ISDIR(info.st_mode);
    }
    entries.push_back({name, is_directory});
    errno = 0;
  }
  TORCH_CHECK(errno == 0, directory, ": cannot list (", std::strerror(errno), ")");
  std::sort(entries.begin(), entries.end(),
            [](const DirectoryEntry& a, const DirectoryEntry& b) { return a.name < b.name; });
  return entries;
}

}  // namespace lowbit::util
