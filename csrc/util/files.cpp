#include <lowbit/csrc/util/files.h>

#include <c10/util/Exception.h>

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
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

bool is_directory(const std::string& path) {
  struct stat info {};
  return ::stat(path.c_str(), &info) == 0 && S_ISDIR(info.st_mode);
}

std::string join_path(const std::string& directory, const std::string& name) {
  if (directory.empty()) return name;
  return directory.back() == '/' ? directory + name : directory + "/" + name;
}

void make_directories(const std::string& path) {
  for (size_t end = path.find('/', 1);; end = path.find('/', end + 1)) {
    const auto prefix = path.substr(0, end);
    TORCH_CHECK(::mkdir(prefix.c_str(), 0777) == 0 || errno == EEXIST, prefix, ": cannot create directory (",
                std::strerror(errno), ")");
    if (end == std::string::npos) break;
  }
  struct stat info {};
  TORCH_CHECK(::stat(path.c_str(), &info) == 0 && S_ISDIR(info.st_mode), path, ": not a directory");
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

void replace_file(const std::string& path, const std::string& bytes) {
  const auto temporary = path + ".tmp";
  {
    OutputFile file(temporary, OutputFile::Mode::Truncate);
    file.write(bytes);
  }
  TORCH_CHECK(::rename(temporary.c_str(), path.c_str()) == 0, path, ": cannot replace (", std::strerror(errno), ")");
}

void remove_file(const std::string& path) {
  TORCH_CHECK(::unlink(path.c_str()) == 0 || errno == ENOENT, path, ": cannot remove (", std::strerror(errno), ")");
}

void remove_tree(const std::string& path) {
  const auto remove = [](const char* p, const struct stat*, int, struct FTW*) { return ::remove(p); };
  TORCH_CHECK(::nftw(path.c_str(), remove, 16, FTW_DEPTH | FTW_PHYS) == 0 || errno == ENOENT, path,
              ": cannot remove (", std::strerror(errno), ")");
}

OutputFile::OutputFile(std::string path, Mode mode) : path_(std::move(path)) {
  const int flags = O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC |
                    (mode == Mode::Truncate ? O_TRUNC : mode == Mode::CreateNew ? O_EXCL : 0);
  fd_ = ::open(path_.c_str(), flags, 0666);
  TORCH_CHECK(fd_ >= 0, path_, ": cannot open for writing (", std::strerror(errno), ")");
}

OutputFile::~OutputFile() { ::close(fd_); }

void OutputFile::write(std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd_, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    TORCH_CHECK(n > 0, path_, ": write failed (", std::strerror(errno), ")");
    bytes.remove_prefix(n);
  }
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
