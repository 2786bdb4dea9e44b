#include <lowbit/csrc/engine/logging/tensorboard.h>

#include <lowbit/csrc/util/crc32c.h>

#include <c10/util/Exception.h>

#include <unistd.h>

#include <chrono>
#include <cstring>
#include <ctime>

namespace lowbit::engine {
namespace {

// Protocol Buffers wire format (protobuf.dev/programming-guides/encoding): each field is a
// varint key (field number << 3 | wire type) followed by its payload; fixed-width numbers are
// little-endian, length-delimited ones (strings, nested messages) carry a varint byte count.
enum WireType : uint32_t { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5 };

void put_varint(std::string& out, uint64_t value) {
  for (; value >= 0x80; value >>= 7) out += static_cast<char>(value | 0x80);
  out += static_cast<char>(value);
}

void put_fixed(std::string& out, uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out += static_cast<char>(value >> (8 * i));
}

void put_key(std::string& out, uint32_t field, WireType type) { put_varint(out, field << 3 | type); }

void put_int64(std::string& out, uint32_t field, int64_t value) {
  put_key(out, field, kVarint);
  put_varint(out, static_cast<uint64_t>(value));  // negatives take ten bytes, as protobuf's int64
}

void put_double(std::string& out, uint32_t field, double value) {
  uint64_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  put_key(out, field, kFixed64);
  put_fixed(out, bits, 8);
}

void put_float(std::string& out, uint32_t field, float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  put_key(out, field, kFixed32);
  put_fixed(out, bits, 4);
}

void put_bytes(std::string& out, uint32_t field, const std::string& bytes) {
  put_key(out, field, kLengthDelimited);
  put_varint(out, bytes.size());
  out += bytes;
}

// Field numbers of tensorflow/core/util/event.proto and framework/summary.proto.
namespace event { constexpr uint32_t kWallTime = 1, kStep = 2, kFileVersion = 3, kSummary = 5, kSessionLog = 7; }
namespace summary { constexpr uint32_t kValue = 1; }
namespace value { constexpr uint32_t kTag = 1, kSimpleValue = 2; }
namespace session_log { constexpr uint32_t kStatus = 1, kStart = 1; }

uint32_t masked_crc32c(const std::string& bytes) {
  const uint32_t crc = util::crc32c(bytes);
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

std::string tfrecord(const std::string& data) {
  std::string length;
  put_fixed(length, data.size(), 8);
  std::string record = length;
  put_fixed(record, masked_crc32c(length), 4);
  record += data;
  put_fixed(record, masked_crc32c(data), 4);
  return record;
}

double unix_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string hostname() {
  char name[256] = {};
  return ::gethostname(name, sizeof(name) - 1) == 0 && name[0] ? name : "localhost";
}

// events.out.tfevents.<unix seconds>.<hostname>, the name TensorFlow's EventsWriter gives; the
// loader picks up every file whose name contains "tfevents", suffixes included.
std::string new_event_file(const std::string& log_dir) {
  util::make_directories(log_dir);
  const auto base = util::join_path(log_dir, "events.out.tfevents." + std::to_string(std::time(nullptr)) + "." +
                                                 hostname());
  auto path = base;
  for (int suffix = 1; util::file_exists(path); ++suffix) path = base + "." + std::to_string(suffix);
  return path;
}

}  // namespace

TensorBoardWriter::TensorBoardWriter(const std::string& log_dir)
    : file_(new_event_file(log_dir), util::OutputFile::Mode::CreateNew) {
  std::string version;
  put_bytes(version, event::kFileVersion, "brain.Event:2");
  write_event(0, version);
}

void TensorBoardWriter::add_scalars(const std::vector<std::pair<std::string, double>>& values, int64_t step) {
  std::string summary;
  for (const auto& [tag, number] : values) {
    std::string value;
    put_bytes(value, value::kTag, tag);
    put_float(value, value::kSimpleValue, static_cast<float>(number));
    put_bytes(summary, summary::kValue, value);
  }
  std::string payload;
  put_bytes(payload, event::kSummary, summary);
  write_event(step, payload);
}

void TensorBoardWriter::discard_from(int64_t step) {
  std::string status;
  put_int64(status, session_log::kStatus, session_log::kStart);
  std::string payload;
  put_bytes(payload, event::kSessionLog, status);
  write_event(step, payload);
}

void TensorBoardWriter::write_event(int64_t step, const std::string& payload) {
  std::string event;
  put_double(event, event::kWallTime, unix_seconds());
  put_int64(event, event::kStep, step);
  file_.write(tfrecord(event + payload));
}

}  // namespace lowbit::engine
