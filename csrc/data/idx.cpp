#include <lowbit/csrc/data/idx.h>

#include <lowbit/csrc/data/gzip_file.h>
#include <lowbit/csrc/util/files.h>

#include <ATen/ATen.h>

namespace lowbit::data {
namespace {

struct IdxType {
  at::ScalarType dtype;
  int64_t bytes;
};

IdxType idx_type(const std::string& path, unsigned char code) {
  switch (code) {
    case 0x08: return {at::kByte, 1};
    case 0x09: return {at::kChar, 1};
    case 0x0B: return {at::kShort, 2};
    case 0x0C: return {at::kInt, 4};
    case 0x0D: return {at::kFloat, 4};
    case 0x0E: return {at::kDouble, 8};
    default: TORCH_CHECK(false, path, ": unknown IDX element type 0x", std::hex, int(code));
  }
}

}  // namespace

at::Tensor read_idx(const std::string& path) {
  const std::string bytes = read_maybe_gzipped(path);
  TORCH_CHECK(bytes.size() >= 4 && bytes[0] == 0 && bytes[1] == 0 && bytes[3] > 0, path,
              ": not an IDX file (starts with ", util::hex_prefix(bytes), "; expected 00 00 <type> <ndims>)");
  const auto type = idx_type(path, static_cast<unsigned char>(bytes[2]));
  const size_t ndims = static_cast<unsigned char>(bytes[3]);
  const size_t header = 4 + 4 * ndims;
  TORCH_CHECK(bytes.size() >= header, path, ": truncated IDX header (", bytes.size(), " bytes)");
  std::vector<int64_t> shape;
  int64_t count = 1, expected = 0;
  bool overflow = false;  // up to 255 sizes below 2^32 each: the product can exceed int64
  for (size_t d = 0; d < ndims; ++d) {
    const auto* p = reinterpret_cast<const unsigned char*>(bytes.data() + 4 + 4 * d);
    shape.push_back((int64_t{p[0]} << 24) | (int64_t{p[1]} << 16) | (int64_t{p[2]} << 8) | int64_t{p[3]});
    overflow |= __builtin_mul_overflow(count, shape.back(), &count);
  }
  overflow |= __builtin_mul_overflow(count, type.bytes, &expected);
  const int64_t found = static_cast<int64_t>(bytes.size() - header);
  TORCH_CHECK(!overflow, path, ": header declares shape ", c10::IntArrayRef(shape), ", more data than any file holds (",
              found, " bytes here)");
  TORCH_CHECK(found == expected, path, ": header declares shape ", c10::IntArrayRef(shape), " = ", expected,
              " bytes of data, but the file holds ", found, found < expected ? " (truncated)" : " (trailing bytes)");
  auto tensor = at::empty(shape, at::TensorOptions().dtype(type.dtype));
  auto* out = static_cast<unsigned char*>(tensor.data_ptr());
  const auto* in = reinterpret_cast<const unsigned char*>(bytes.data() + header);
  // IDX is big-endian; x86 and ARM Linux are little-endian.
  for (int64_t i = 0; i < count; ++i) {
    for (int64_t b = 0; b < type.bytes; ++b) out[i * type.bytes + b] = in[i * type.bytes + type.bytes - 1 - b];
  }
  return tensor;
}

}  // namespace lowbit::data
