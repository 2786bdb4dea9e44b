#pragma once
// The `.lbm` file: lowbit's packed model format (docs/export.md), version 2 (version 1 files, which
// have no codes, are read too). Little-endian:
//   header : magic "LOWBITM\0" (8 bytes), version u32, record count u32
//   record : name length u16, name (UTF-8, 1..1024 bytes, unique), kind u8, ndim u8 (1..8),
//            dims i64[ndim] (>= 0), [v2: bits u8, zero point i32], scale count u32, scales
//            f32[count], [v2: offset count u32, offsets f32[count]], payload size u64, payload
//   footer : CRC-32C (util/crc32c.h) of every byte before it, u32
// Kinds and their payloads, with rows = dims[0] and cols = the product of the other dims:
//   Float32 : numel float32 values
//   Binary  : rows x ceil(cols / 64) 64-bit words, bit j of a row's word w = 1 where value
//             64 w + j of the row is -1 (kernels/binary_gemm.h's packing); unused bits 0
//   Ternary : two such planes, signs then nonzeros (a value is 0 where its nonzero bit is 0)
//   Text    : dims = {bytes}, UTF-8 (the model's description, e.g. the recipe's model section)
//   Codes   : unsigned integers u of `bits` bits (1..8), per row ceil(cols * bits / 8) bytes, value j
//             of a row at bits [j bits, (j + 1) bits) of the row's bytes, least significant first;
//             value = fma(u - zero point, scale, offset) in float32 (lbm_code_values)
// Binary and ternary records carry 0, 1 or `rows` scales (per output channel), codes 1 or `rows`
// scales and 0, 1 or `rows` offsets; other kinds none, and bits and zero point 0.
// The parser checks every field against the bytes left before reading it: a truncated,
// corrupted (checksum), wrong-version or inconsistent file raises LbmError naming the source, the
// record and the field, and never reads outside the buffer. Free of LibTorch, so that the fuzz
// target (tests/fuzz) builds it alone.

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace lowbit::deploy {

constexpr uint32_t kLbmVersion = 2;  // what serialize_lbm writes; parse_lbm reads 1 and 2

enum class LbmKind : uint8_t { Float32 = 0, Binary = 1, Ternary = 2, Text = 3, Codes = 4 };

struct LbmRecord {
  std::string name;
  LbmKind kind = LbmKind::Float32;
  std::vector<int64_t> dims;
  std::vector<float> scales;
  std::vector<uint8_t> payload;
  // Codes only:
  uint8_t bits = 0;
  int32_t zero_point = 0;
  std::vector<float> offsets{};
};

class LbmError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The payload size a record of `kind`, `dims` (and `bits`, for codes) has; throws LbmError for
// impossible shapes.
uint64_t lbm_payload_bytes(LbmKind kind, const std::vector<int64_t>& dims, uint8_t bits = 0);

// A codes record: `codes` (rows x cols integers, row-major, each in [-zero_point, 2^bits - 1 -
// zero_point]) stored as u = code + zero_point; scales and offsets as the record takes them.
// Throws LbmError for a code outside that range.
LbmRecord lbm_codes_record(std::string name, std::vector<int64_t> dims, const std::vector<int32_t>& codes,
                           uint8_t bits, int32_t zero_point, std::vector<float> scales, std::vector<float> offsets);

// A codes record's values, row-major: fma(u - zero point, scale, offset) rounded once to float32
// (offset 0 without offsets: the product, exactly what an LSQ grid's forward computes).
std::vector<float> lbm_code_values(const LbmRecord& codes);

// The file's bytes; throws LbmError (naming the record) for a record the parser would reject.
std::vector<uint8_t> serialize_lbm(const std::vector<LbmRecord>& records);

// The records of a file's bytes. `source` names it in errors; `verify_checksum` false skips the
// footer's check (the fuzz target, which must reach the fields behind it).
std::vector<LbmRecord> parse_lbm(const uint8_t* data, size_t size, const std::string& source,
                                 bool verify_checksum = true);

}  // namespace lowbit::deploy
