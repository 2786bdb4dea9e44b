#include <lowbit/csrc/data/gzip_file.h>

#include <c10/util/Exception.h>

#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <memory>

namespace lowbit::data {

std::string read_maybe_gzipped(const std::string& path) {
  errno = 0;
  std::unique_ptr<gzFile_s, int (*)(gzFile)> file(gzopen(path.c_str(), "rb"), gzclose);
  TORCH_CHECK(file != nullptr, path, ": cannot open (", errno ? std::strerror(errno) : "out of memory", ")");
  std::string bytes;
  char buffer[1 << 16];
  int n;
  while ((n = gzread(file.get(), buffer, sizeof(buffer))) > 0) bytes.append(buffer, n);
  int status = Z_OK;
  const char* message = gzerror(file.get(), &status);
  TORCH_CHECK(n == 0 && (status == Z_OK || status == Z_STREAM_END), path, ": read failed (",
              status == Z_ERRNO ? std::strerror(errno) : message, ")");
  return bytes;
}

}  // namespace lowbit::data
