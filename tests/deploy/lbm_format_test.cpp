// The .lbm container (csrc/deploy/lbm_format.h): a round trip of every record kind, codes packed and
// read back, version 1 files, and a file cut at every length, corrupted at every byte, of another
// version or with inconsistent records, each refused with an error that names the file and what is
// wrong.
#include <lowbit/csrc/deploy/lbm_format.h>
#include <lowbit/csrc/util/crc32c.h>

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace lbm_format_test {  // named: unity builds join test files

using lowbit::deploy::LbmError;
using lowbit::deploy::LbmKind;
using lowbit::deploy::LbmRecord;

std::vector<LbmRecord> sample_records() {
  std::vector<LbmRecord> records;
  records.push_back({"model", LbmKind::Text, {11}, {}, {'n', 'a', 'm', 'e', ':', ' ', 'r', 'e', 's', 'n', 't'}});
  LbmRecord binary{"layer1.conv.weight", LbmKind::Binary, {3, 70}, {0.5f, 0.25f, 2.0f}, {}};
  binary.payload.resize(3 * 2 * 8);
  for (size_t i = 0; i < binary.payload.size(); ++i) binary.payload[i] = static_cast<uint8_t>(i * 37);
  records.push_back(binary);
  LbmRecord ternary{"blocks.0.qkv.weight", LbmKind::Ternary, {2, 4, 3}, {0.1f}, std::vector<uint8_t>(2 * 2 * 8, 0xA5)};
  records.push_back(ternary);
  LbmRecord real{"fc.bias", LbmKind::Float32, {4}, {}, std::vector<uint8_t>(16)};
  const float values[4] = {1.5f, -2.0f, 0.0f, 3.25f};
  std::memcpy(real.payload.data(), values, 16);
  records.push_back(real);
  // 3-bit codes -4..3 (zero point 4), a scale per row, one offset.
  records.push_back(lowbit::deploy::lbm_codes_record("blocks.0.fc1.weight", {2, 5}, {-4, -1, 0, 3, 2, 1, 1, -2, 0, -3},
                                                     3, 4, {0.5f, 0.125f}, {-1.0f}));
  return records;
}

void put_u32(std::vector<uint8_t>& out, uint32_t v) { out.insert(out.end(), reinterpret_cast<uint8_t*>(&v), reinterpret_cast<uint8_t*>(&v) + 4); }

std::vector<LbmRecord> parse(const std::vector<uint8_t>& bytes, bool verify = true) {
  return lowbit::deploy::parse_lbm(bytes.data(), bytes.size(), "model.lbm", verify);
}

// The message of the LbmError that parsing `bytes` raises ("" if none).
std::string error_of(const std::vector<uint8_t>& bytes, bool verify = true) {
  try {
    parse(bytes, verify);
  } catch (const LbmError& e) {
    return e.what();
  }
  return "";
}

// `bytes` with its footer recomputed over the edited content.
std::vector<uint8_t> resealed(std::vector<uint8_t> bytes) {
  const uint32_t crc = lowbit::util::crc32c(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size() - 4));
  std::memcpy(bytes.data() + bytes.size() - 4, &crc, 4);
  return bytes;
}

}  // namespace lbm_format_test

using namespace lbm_format_test;  // NOLINT

TEST(LbmFormat, EveryRecordKindRoundTrips) {
  const auto records = sample_records();
  const auto parsed = parse(lowbit::deploy::serialize_lbm(records));
  ASSERT_EQ(parsed.size(), records.size());
  for (size_t i = 0; i < records.size(); ++i) {
    EXPECT_EQ(parsed[i].name, records[i].name);
    EXPECT_EQ(parsed[i].kind, records[i].kind);
    EXPECT_EQ(parsed[i].dims, records[i].dims);
    EXPECT_EQ(parsed[i].scales, records[i].scales);
    EXPECT_EQ(parsed[i].payload, records[i].payload);
    EXPECT_EQ(parsed[i].bits, records[i].bits);
    EXPECT_EQ(parsed[i].zero_point, records[i].zero_point);
    EXPECT_EQ(parsed[i].offsets, records[i].offsets);
  }
}

TEST(LbmFormat, CodesArePackedLeastSignificantBitFirstAndGiveFusedMultiplyAdds) {
  const auto codes = sample_records().back();
  EXPECT_EQ(codes.kind, LbmKind::Codes);
  // Row 0: u = code + 4 = 0, 3, 4, 7, 6 at bits 0, 3, 6, 9, 12: 0b110'111'100'011'000, 15 bits -> 2 bytes.
  const uint32_t row0 = (0U) | (3U << 3) | (4U << 6) | (7U << 9) | (6U << 12);
  ASSERT_EQ(codes.payload.size(), 4u);
  EXPECT_EQ(codes.payload[0], row0 & 0xFF);
  EXPECT_EQ(codes.payload[1], row0 >> 8);
  const auto values = lowbit::deploy::lbm_code_values(codes);
  const std::vector<int> code = {-4, -1, 0, 3, 2, 1, 1, -2, 0, -3};
  ASSERT_EQ(values.size(), code.size());
  for (size_t i = 0; i < code.size(); ++i) {
    EXPECT_EQ(values[i], std::fma(static_cast<float>(code[i]), i < 5 ? 0.5f : 0.125f, -1.0f)) << i;
  }
  // A code outside the bits' range of the zero point, and values asked of another kind.
  EXPECT_THROW(lowbit::deploy::lbm_codes_record("w", {1, 2}, {4, 0}, 3, 4, {1.f}, {}), LbmError);
  EXPECT_THROW(lowbit::deploy::lbm_codes_record("w", {1, 2}, {-5, 0}, 3, 4, {1.f}, {}), LbmError);
  EXPECT_THROW(lowbit::deploy::lbm_code_values(sample_records()[3]), LbmError);
}

TEST(LbmFormat, VersionOneFilesAreRead) {
  // magic, version 1, 1 record: "w", float32, dims {2}, no scales, 8 bytes of payload (no bits,
  // zero point or offsets in version 1), then the checksum.
  std::vector<uint8_t> bytes = {'L', 'O', 'W', 'B', 'I', 'T', 'M', 0};
  put_u32(bytes, 1);
  put_u32(bytes, 1);
  bytes.insert(bytes.end(), {1, 0, 'w', 0, 1, 2, 0, 0, 0, 0, 0, 0, 0});
  put_u32(bytes, 0);
  bytes.insert(bytes.end(), {8, 0, 0, 0, 0, 0, 0, 0});
  const float v[2] = {1.5f, -2.f};
  bytes.insert(bytes.end(), reinterpret_cast<const uint8_t*>(v), reinterpret_cast<const uint8_t*>(v) + 8);
  put_u32(bytes, lowbit::util::crc32c(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size())));
  const auto records = parse(bytes);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].name, "w");
  EXPECT_EQ(records[0].dims, std::vector<int64_t>{2});
  float read[2];
  std::memcpy(read, records[0].payload.data(), 8);
  EXPECT_EQ(read[1], -2.f);
  // Version 1 has no codes kind.
  bytes[8 + 4 + 4 + 2 + 1] = 4;
  EXPECT_NE(error_of(resealed(bytes)).find("record 0 'w': unknown kind 4"), std::string::npos) << error_of(resealed(bytes));
}

TEST(LbmFormat, EveryTruncationIsRefusedByName) {
  const auto bytes = lowbit::deploy::serialize_lbm(sample_records());
  for (size_t size = 0; size < bytes.size(); ++size) {
    const std::vector<uint8_t> cut(bytes.begin(), bytes.begin() + size);
    for (const bool verify : {true, false}) {
      const auto message = error_of(cut, verify);
      ASSERT_EQ(message.rfind("model.lbm: ", 0), 0u) << size << " bytes: '" << message << "'";
    }
  }
  EXPECT_NE(error_of({bytes.begin(), bytes.begin() + 5}).find("truncated: the magic needs 8 bytes at offset 0, 5 are left"),
            std::string::npos);
  // Cut inside the records, the checksum check off: the field that ran out is named.
  const auto message = error_of({bytes.begin(), bytes.begin() + 98}, false);  // record 1's first dim cut (94 bytes before the footer)
  EXPECT_NE(message.find("truncated: record 1 'layer1.conv.weight': the dims needs 8 bytes"), std::string::npos) << message;
}

TEST(LbmFormat, EveryCorruptedByteFailsTheChecksum) {
  const auto bytes = lowbit::deploy::serialize_lbm(sample_records());
  for (size_t i = 12; i < bytes.size(); ++i) {  // past magic and version, which fail first
    auto corrupted = bytes;
    corrupted[i] ^= 0x10;
    const auto message = error_of(corrupted);
    ASSERT_NE(message.find("checksum mismatch"), std::string::npos) << "byte " << i << ": " << message;
    // Without the checksum the parser still reads only inside the buffer (the fuzz target's mode).
    (void)error_of(corrupted, false);
  }
}

TEST(LbmFormat, WrongMagicVersionAndInconsistentRecordsAreNamed) {
  auto bytes = lowbit::deploy::serialize_lbm(sample_records());
  auto other = bytes;
  other[0] = 'X';
  EXPECT_NE(error_of(other).find("not a lowbit model (.lbm)"), std::string::npos);
  other = bytes;
  other[8] = 7;
  EXPECT_NE(error_of(other).find("format version 7, this lowbit reads versions 1 to 2"), std::string::npos);
  // Record 0 is "model" (text, 11 bytes): its dims field is at 8 + 4 + 4 + 2 + 5 + 1 + 1 = 25.
  other = bytes;
  other[25] = 12;  // dims {12}, the payload still 11 bytes
  auto message = error_of(resealed(other));
  EXPECT_NE(message.find("record 0 'model': payload of 11 bytes, expected 12 for a text [12]"), std::string::npos)
      << message;
  other = bytes;
  other[24] = 9;  // 9 dims
  message = error_of(resealed(other));
  EXPECT_NE(message.find("record 0 'model': 9 dims, expected 1 to 8"), std::string::npos) << message;
  other = bytes;
  other[23] = 9;  // kind 9
  message = error_of(resealed(other));
  EXPECT_NE(message.find("record 0 'model': unknown kind 9"), std::string::npos) << message;
  // Trailing bytes before the checksum.
  other = bytes;
  other.insert(other.end() - 4, {1, 2, 3});
  message = error_of(resealed(other));
  EXPECT_NE(message.find("3 bytes after the last record"), std::string::npos) << message;
}

TEST(LbmFormat, TheWriterRefusesWhatTheReaderWould) {
  auto records = sample_records();
  records[1].payload.pop_back();
  EXPECT_THROW(lowbit::deploy::serialize_lbm(records), LbmError);
  records = sample_records();
  records[2].scales = {1.f, 2.f, 3.f};  // 0, 1 or 2 (rows) for [2, 4, 3]
  try {
    lowbit::deploy::serialize_lbm(records);
    FAIL() << "3 scales for 2 rows accepted";
  } catch (const LbmError& e) {
    EXPECT_NE(std::string(e.what()).find("3 scales for a ternary [2, 4, 3], expected 0, 1 or 2"), std::string::npos)
        << e.what();
  }
  records = sample_records();
  records[3].name = records[1].name;
  EXPECT_THROW(lowbit::deploy::serialize_lbm(records), LbmError);
  records = sample_records();
  records[1].scales[0] = std::nanf("");
  EXPECT_THROW(lowbit::deploy::serialize_lbm(records), LbmError);
  // Codes: bits, zero point, scales and offsets per kind.
  const auto refused = [](const std::function<void(LbmRecord&)>& edit) {
    auto r = sample_records();
    edit(r.back());
    try {
      lowbit::deploy::serialize_lbm(r);
    } catch (const LbmError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_NE(refused([](LbmRecord& r) { r.bits = 9; }).find("9 bits for a codes, expected 1 to 8"), std::string::npos);
  EXPECT_NE(refused([](LbmRecord& r) { r.zero_point = 8; }).find("zero point 8 for 3-bit codes, expected 0 to 7"),
            std::string::npos);
  EXPECT_NE(refused([](LbmRecord& r) { r.scales.clear(); }).find("0 scales for a codes [2, 5], expected 1 or 2"),
            std::string::npos);
  EXPECT_NE(refused([](LbmRecord& r) { r.offsets = {1.f, 2.f, 3.f}; }).find("3 offsets for a codes [2, 5], expected 0, 1 or 2"),
            std::string::npos);
  EXPECT_NE(refused([](LbmRecord& r) { r.offsets[0] = INFINITY; }).find("expected finite offsets"), std::string::npos);
  EXPECT_NE(refused([](LbmRecord& r) { r.kind = LbmKind::Float32; }).find("3 bits for a float32, expected 0"),
            std::string::npos);
}
