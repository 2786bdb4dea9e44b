#include <lowbit/csrc/deploy/lbm_format.h>

#include <lowbit/csrc/util/crc32c.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <set>
#include <string_view>
#include <utility>

namespace lowbit::deploy {
namespace lbm_detail {  // named: unity builds join files

constexpr char kMagic[8] = {'L', 'O', 'W', 'B', 'I', 'T', 'M', '\0'};
constexpr size_t kMaxName = 1024, kMaxDims = 8;
constexpr int64_t kMaxElements = int64_t{1} << 40;

const char* kind_name(LbmKind kind) {
  switch (kind) {
    case LbmKind::Float32: return "float32";
    case LbmKind::Binary: return "binary";
    case LbmKind::Ternary: return "ternary";
    case LbmKind::Text: return "text";
    case LbmKind::Codes: return "codes";
  }
  return "unknown";
}

std::string shape_text(const std::vector<int64_t>& dims) {
  std::string text = "[";
  for (size_t i = 0; i < dims.size(); ++i) text += (i ? ", " : "") + std::to_string(dims[i]);
  return text + "]";
}

// Reads little-endian fields from [data, data + size), each checked against the bytes left.
class Reader {
 public:
  Reader(const uint8_t* data, size_t size, std::string source) : data_(data), size_(size), source_(std::move(source)) {}

  template <typename T>
  T next(const std::string& what) {
    T value;
    std::memcpy(&value, take(sizeof(T), what), sizeof(T));
    return value;
  }
  const uint8_t* take(uint64_t bytes, const std::string& what) {
    if (bytes > size_ - offset_) {
      fail("truncated: " + what + " needs " + std::to_string(bytes) + " bytes at offset " + std::to_string(offset_) +
           ", " + std::to_string(size_ - offset_) + " are left");
    }
    const uint8_t* at = data_ + offset_;
    offset_ += bytes;
    return at;
  }
  size_t offset() const { return offset_; }
  [[noreturn]] void fail(const std::string& message) const { throw LbmError(source_ + ": " + message); }

 private:
  const uint8_t* data_;
  size_t size_, offset_ = 0;
  std::string source_;
};

class Writer {
 public:
  template <typename T>
  void put(const T& value) {
    const auto* bytes = reinterpret_cast<const uint8_t*>(&value);
    out.insert(out.end(), bytes, bytes + sizeof(T));
  }
  void put_bytes(const void* data, size_t size) {
    const auto* bytes = static_cast<const uint8_t*>(data);
    out.insert(out.end(), bytes, bytes + size);
  }
  std::vector<uint8_t> out;
};

uint32_t checksum(const uint8_t* data, size_t size) {
  return util::crc32c(std::string_view(reinterpret_cast<const char*>(data), size));
}

// A per-row list (scales, offsets) of a record with `rows` rows: one value for all rows, one per
// row, or (where none_allowed) none; each value finite.
void check_row_values(const std::vector<float>& values, const char* what, int64_t rows, bool none_allowed,
                      const std::string& where, const std::string& record,
                      const std::function<void(const std::string&)>& fail) {
  const auto count = static_cast<int64_t>(values.size());
  if (!((none_allowed && count == 0) || count == 1 || count == rows)) {
    fail(where + std::to_string(count) + " " + what + "s for a " + record + ", expected " +
         (none_allowed ? "0, 1 or " : "1 or ") + std::to_string(rows));
  }
  for (const float v : values) {
    if (!std::isfinite(v)) fail(where + "a " + what + " of " + std::to_string(v) + ", expected finite " + what + "s");
  }
}

// Everything of a record but its payload, checked; `where` prefixes the errors.
void check_record(const LbmRecord& r, const std::string& where, const std::function<void(const std::string&)>& fail) {
  if (r.name.empty() || r.name.size() > kMaxName) fail(where + "name of " + std::to_string(r.name.size()) + " bytes, expected 1 to 1024");
  const bool codes = r.kind == LbmKind::Codes;
  if (codes ? r.bits < 1 || r.bits > 8 : r.bits != 0) {
    fail(where + std::to_string(r.bits) + " bits for a " + kind_name(r.kind) + ", expected " + (codes ? "1 to 8" : "0"));
  }
  if (codes ? r.zero_point < 0 || r.zero_point >= (1 << r.bits) : r.zero_point != 0) {
    fail(where + "zero point " + std::to_string(r.zero_point) + " for " + std::to_string(r.bits) + "-bit " +
         kind_name(r.kind) + ", expected " + (codes ? "0 to " + std::to_string((1 << r.bits) - 1) : "0"));
  }
  const uint64_t payload = lbm_payload_bytes(r.kind, r.dims, r.bits);
  const int64_t rows = r.dims.empty() ? 0 : r.dims[0];
  const std::string record = std::string(kind_name(r.kind)) + " " + shape_text(r.dims);
  if (r.kind == LbmKind::Binary || r.kind == LbmKind::Ternary || codes) {
    check_row_values(r.scales, "scale", rows, !codes, where, record, fail);
  } else if (!r.scales.empty()) {
    fail(where + std::to_string(r.scales.size()) + " scales for a " + record + ", expected none");
  }
  if (codes) {
    check_row_values(r.offsets, "offset", rows, true, where, record, fail);
  } else if (!r.offsets.empty()) {
    fail(where + std::to_string(r.offsets.size()) + " offsets for a " + record + ", expected none");
  }
  if (r.payload.size() != payload) {
    fail(where + "payload of " + std::to_string(r.payload.size()) + " bytes, expected " + std::to_string(payload) +
         " for a " + record);
  }
}

std::vector<float> read_floats(Reader& body, const std::string& what) {
  const auto count = body.next<uint32_t>(what + " count");
  const auto* bytes = body.take(uint64_t{count} * sizeof(float), what);
  std::vector<float> values(count);
  if (count > 0) std::memcpy(values.data(), bytes, values.size() * sizeof(float));
  return values;
}

// Record `i` of a file of `version` at the reader's position, every field checked before it is read.
LbmRecord parse_record(Reader& body, uint32_t i, uint32_t version) {
  const std::string where = "record " + std::to_string(i) + ": ";
  LbmRecord r;
  const auto name_size = body.next<uint16_t>(where + "the name length");
  const auto* name = body.take(name_size, where + "the name");
  r.name.assign(reinterpret_cast<const char*>(name), name_size);
  const std::string named = "record " + std::to_string(i) + " '" + r.name + "': ";
  const auto kind = body.next<uint8_t>(named + "the kind");
  const auto last_kind = version == 1 ? LbmKind::Text : LbmKind::Codes;
  if (kind > static_cast<uint8_t>(last_kind)) body.fail(named + "unknown kind " + std::to_string(kind));
  r.kind = static_cast<LbmKind>(kind);
  const auto ndim = body.next<uint8_t>(named + "the dims count");
  if (ndim == 0 || ndim > kMaxDims) body.fail(named + std::to_string(ndim) + " dims, expected 1 to 8");
  for (uint8_t k = 0; k < ndim; ++k) r.dims.push_back(body.next<int64_t>(named + "the dims"));
  if (version >= 2) {
    r.bits = body.next<uint8_t>(named + "the bits");
    r.zero_point = body.next<int32_t>(named + "the zero point");
  }
  r.scales = read_floats(body, named + "the scales");
  if (version >= 2) r.offsets = read_floats(body, named + "the offsets");
  const auto payload_size = body.next<uint64_t>(named + "the payload size");
  uint64_t expected = 0;
  try {
    expected = lbm_payload_bytes(r.kind, r.dims, r.bits);
  } catch (const LbmError& e) {
    body.fail(named + e.what());
  }
  if (payload_size != expected) {
    body.fail(named + "payload of " + std::to_string(payload_size) + " bytes, expected " + std::to_string(expected) +
              " for a " + kind_name(r.kind) + " " + shape_text(r.dims));
  }
  const auto* payload = body.take(payload_size, named + "the payload");
  r.payload.assign(payload, payload + payload_size);
  check_record(r, named, [&](const std::string& m) { body.fail(m); });
  return r;
}

// rows and cols (the product of the other dims) of a record's dims, checked by lbm_payload_bytes.
std::pair<int64_t, int64_t> rows_and_cols(const std::vector<int64_t>& dims) {
  int64_t numel = 1;
  for (const int64_t size : dims) numel *= size;
  return {dims[0], dims[0] == 0 ? 0 : numel / dims[0]};
}

uint64_t code_row_bytes(int64_t cols, uint8_t bits) { return (static_cast<uint64_t>(cols) * bits + 7) / 8; }

}  // namespace lbm_detail

uint64_t lbm_payload_bytes(LbmKind kind, const std::vector<int64_t>& dims, uint8_t bits) {
  namespace d = lbm_detail;
  if (dims.empty() || dims.size() > d::kMaxDims) {
    throw LbmError("a tensor of " + std::to_string(dims.size()) + " dims, expected 1 to 8");
  }
  int64_t numel = 1;
  for (const int64_t size : dims) {
    if (size < 0 || size > d::kMaxElements) throw LbmError("dimension " + std::to_string(size) + " in " + d::shape_text(dims));
    numel = size == 0 ? 0 : numel;
    if (numel != 0 && size != 0 && numel > d::kMaxElements / size) throw LbmError(d::shape_text(dims) + " has over 2^40 elements");
    numel *= size;
  }
  switch (kind) {
    case LbmKind::Float32: return static_cast<uint64_t>(numel) * 4;
    case LbmKind::Text:
      if (dims.size() != 1) throw LbmError("a text record of shape " + d::shape_text(dims) + ", expected [bytes]");
      return static_cast<uint64_t>(numel);
    case LbmKind::Binary:
    case LbmKind::Ternary: {
      const int64_t rows = dims[0], cols = rows == 0 ? 0 : numel / rows;
      const uint64_t plane = static_cast<uint64_t>(rows) * static_cast<uint64_t>((cols + 63) / 64) * 8;
      return kind == LbmKind::Binary ? plane : 2 * plane;
    }
    case LbmKind::Codes: {
      const int64_t rows = dims[0], cols = rows == 0 ? 0 : numel / rows;
      return static_cast<uint64_t>(rows) * d::code_row_bytes(cols, bits);
    }
  }
  throw LbmError("unknown record kind " + std::to_string(static_cast<int>(kind)));
}

std::vector<uint8_t> serialize_lbm(const std::vector<LbmRecord>& records) {
  namespace d = lbm_detail;
  d::Writer w;
  w.put_bytes(d::kMagic, sizeof(d::kMagic));
  w.put(kLbmVersion);
  w.put(static_cast<uint32_t>(records.size()));
  std::set<std::string> names;
  for (const auto& r : records) {
    d::check_record(r, "record '" + r.name + "': ", [](const std::string& m) { throw LbmError(m); });
    if (!names.insert(r.name).second) throw LbmError("record '" + r.name + "' appears twice");
    w.put(static_cast<uint16_t>(r.name.size()));
    w.put_bytes(r.name.data(), r.name.size());
    w.put(static_cast<uint8_t>(r.kind));
    w.put(static_cast<uint8_t>(r.dims.size()));
    for (const int64_t size : r.dims) w.put(size);
    w.put(r.bits);
    w.put(r.zero_point);
    w.put(static_cast<uint32_t>(r.scales.size()));
    w.put_bytes(r.scales.data(), r.scales.size() * sizeof(float));
    w.put(static_cast<uint32_t>(r.offsets.size()));
    w.put_bytes(r.offsets.data(), r.offsets.size() * sizeof(float));
    w.put(static_cast<uint64_t>(r.payload.size()));
    w.put_bytes(r.payload.data(), r.payload.size());
  }
  w.put(d::checksum(w.out.data(), w.out.size()));
  return std::move(w.out);
}

std::vector<LbmRecord> parse_lbm(const uint8_t* data, size_t size, const std::string& source, bool verify_checksum) {
  namespace d = lbm_detail;
  d::Reader in(data, size, source);
  if (std::memcmp(in.take(sizeof(d::kMagic), "the magic"), d::kMagic, sizeof(d::kMagic)) != 0) {
    in.fail("not a lowbit model (.lbm): the file does not start with \"LOWBITM\"");
  }
  const auto version = in.next<uint32_t>("the version");
  if (version < 1 || version > kLbmVersion) {
    in.fail("format version " + std::to_string(version) + ", this lowbit reads versions 1 to " + std::to_string(kLbmVersion));
  }
  if (size < 4 + in.offset()) in.fail("truncated: no room for the checksum");
  if (verify_checksum) {
    uint32_t stored;
    std::memcpy(&stored, data + size - 4, 4);
    const uint32_t computed = d::checksum(data, size - 4);
    if (stored != computed) {
      in.fail("checksum mismatch (stored " + std::to_string(stored) + ", computed " + std::to_string(computed) +
              "): the file is corrupted or was cut short");
    }
  }
  d::Reader body(data, size - 4, source);  // the records end where the checksum starts
  body.take(in.offset(), "the header");
  const auto count = body.next<uint32_t>("the record count");
  std::vector<LbmRecord> records;
  std::set<std::string> names;
  for (uint32_t i = 0; i < count; ++i) {
    LbmRecord r = d::parse_record(body, i, version);
    const std::string named = "record " + std::to_string(i) + " '" + r.name + "': ";
    if (!names.insert(r.name).second) body.fail(named + "a second record of that name");
    records.push_back(std::move(r));
  }
  if (body.offset() != size - 4) {
    body.fail(std::to_string(size - 4 - body.offset()) + " bytes after the last record, before the checksum");
  }
  return records;
}

LbmRecord lbm_codes_record(std::string name, std::vector<int64_t> dims, const std::vector<int32_t>& codes,
                           uint8_t bits, int32_t zero_point, std::vector<float> scales, std::vector<float> offsets) {
  namespace d = lbm_detail;
  LbmRecord r{std::move(name), LbmKind::Codes, std::move(dims), std::move(scales), {}, bits, zero_point, std::move(offsets)};
  try {
    r.payload.resize(lbm_payload_bytes(r.kind, r.dims, bits));
  } catch (const LbmError& e) {
    throw LbmError("record '" + r.name + "': " + e.what());
  }
  const auto [rows, cols] = d::rows_and_cols(r.dims);
  if (codes.size() != static_cast<size_t>(rows * cols)) {
    throw LbmError("record '" + r.name + "': " + std::to_string(codes.size()) + " codes for " + d::shape_text(r.dims));
  }
  const uint64_t row_bytes = d::code_row_bytes(cols, bits);
  const int64_t top = (int64_t{1} << bits) - 1;
  for (int64_t row = 0; row < rows; ++row) {
    uint8_t* out = r.payload.data() + static_cast<uint64_t>(row) * row_bytes;
    for (int64_t j = 0; j < cols; ++j) {
      const int64_t u = int64_t{codes[static_cast<size_t>(row * cols + j)]} + zero_point;
      if (u < 0 || u > top) {
        throw LbmError("record '" + r.name + "': code " + std::to_string(u - zero_point) + " outside the " +
                       std::to_string(bits) + "-bit range of zero point " + std::to_string(zero_point));
      }
      const uint64_t bit = static_cast<uint64_t>(j) * bits;
      // A value spans at most two bytes (bits <= 8).
      const uint32_t placed = static_cast<uint32_t>(u) << (bit % 8);
      out[bit / 8] = static_cast<uint8_t>(out[bit / 8] | (placed & 0xFFU));
      if ((bit % 8) + bits > 8) out[bit / 8 + 1] = static_cast<uint8_t>(out[bit / 8 + 1] | (placed >> 8));
    }
  }
  d::check_record(r, "record '" + r.name + "': ", [](const std::string& m) { throw LbmError(m); });
  return r;
}

std::vector<float> lbm_code_values(const LbmRecord& r) {
  namespace d = lbm_detail;
  if (r.kind != LbmKind::Codes) throw LbmError("record '" + r.name + "' is " + d::kind_name(r.kind) + ", not codes");
  d::check_record(r, "record '" + r.name + "': ", [](const std::string& m) { throw LbmError(m); });
  const auto [rows, cols] = d::rows_and_cols(r.dims);
  const uint64_t row_bytes = d::code_row_bytes(cols, r.bits);
  const uint32_t mask = (1U << r.bits) - 1;
  std::vector<float> values(static_cast<size_t>(rows * cols));
  for (int64_t row = 0; row < rows; ++row) {
    const uint8_t* in = r.payload.data() + static_cast<uint64_t>(row) * row_bytes;
    const float scale = r.scales.size() == 1 ? r.scales[0] : r.scales[static_cast<size_t>(row)];
    const float offset = r.offsets.empty() ? 0.f : r.offsets.size() == 1 ? r.offsets[0] : r.offsets[static_cast<size_t>(row)];
    for (int64_t j = 0; j < cols; ++j) {
      const uint64_t bit = static_cast<uint64_t>(j) * r.bits;
      uint32_t word = in[bit / 8];
      if ((bit % 8) + r.bits > 8) word |= static_cast<uint32_t>(in[bit / 8 + 1]) << 8;
      const auto u = static_cast<int32_t>((word >> (bit % 8)) & mask);
      values[static_cast<size_t>(row * cols + j)] = std::fma(static_cast<float>(u - r.zero_point), scale, offset);
    }
  }
  return values;
}

}  // namespace lowbit::deploy
