#include "support/event_file.h"

#include <lowbit/csrc/util/crc32c.h>
#include <lowbit/csrc/util/files.h>

#include <cstring>
#include <stdexcept>

namespace lowbit::testing {
namespace {

void expect(bool ok, const std::string& what) {
  if (!ok) throw std::runtime_error(what);
}

// A cursor over protobuf wire format or TFRecord bytes; every read checks the bounds.
struct Reader {
  const std::string& bytes;
  size_t at = 0;
  size_t end;

  bool done() const { return at == end; }
  uint64_t fixed(int size) {
    expect(end - at >= static_cast<size_t>(size), "truncated at byte " + std::to_string(at));
    uint64_t value = 0;
    for (int i = 0; i < size; ++i) value |= uint64_t{static_cast<unsigned char>(bytes[at++])} << (8 * i);
    return value;
  }
  uint64_t varint() {
    uint64_t value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      const uint64_t byte = fixed(1);
      value |= (byte & 0x7F) << shift;
      if (!(byte & 0x80)) return value;
    }
    throw std::runtime_error("varint longer than 10 bytes");
  }
  std::string take(uint64_t size) {
    expect(end - at >= size, "length " + std::to_string(size) + " past the end");
    at += size;
    return bytes.substr(at - size, size);
  }
  // A field's key: its number and its wire type.
  std::pair<uint32_t, uint64_t> key() {
    const uint64_t key = varint();
    return {static_cast<uint32_t>(key >> 3), key & 7};
  }
};

uint32_t masked_crc32c(const std::string& bytes) {
  const uint32_t crc = util::crc32c(bytes);
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

std::pair<std::string, float> decode_value(const std::string& bytes) {
  Reader in{bytes, 0, bytes.size()};
  std::pair<std::string, float> value;
  while (!in.done()) {
    const auto [field, type] = in.key();
    if (field == 1 && type == 2) {
      value.first = in.take(in.varint());
    } else if (field == 2 && type == 5) {
      const auto bits = static_cast<uint32_t>(in.fixed(4));
      std::memcpy(&value.second, &bits, sizeof(bits));
    } else {
      throw std::runtime_error("unexpected Summary.Value field " + std::to_string(field));
    }
  }
  return value;
}

Event decode_event(const std::string& bytes) {
  Reader in{bytes, 0, bytes.size()};
  Event event;
  while (!in.done()) {
    const auto [field, type] = in.key();
    if (field == 1 && type == 1) {
      const uint64_t bits = in.fixed(8);
      std::memcpy(&event.wall_time, &bits, sizeof(bits));
    } else if (field == 2 && type == 0) {
      event.step = static_cast<int64_t>(in.varint());
    } else if (field == 3 && type == 2) {
      event.file_version = in.take(in.varint());
    } else if (field == 5 && type == 2) {
      const auto summary = in.take(in.varint());
      Reader values{summary, 0, summary.size()};
      while (!values.done()) {
        const auto [value_field, value_type] = values.key();
        expect(value_field == 1 && value_type == 2, "unexpected Summary field " + std::to_string(value_field));
        event.scalars.push_back(decode_value(values.take(values.varint())));
      }
    } else if (field == 7 && type == 2) {
      const auto session_log = in.take(in.varint());
      Reader status{session_log, 0, session_log.size()};
      const auto [status_field, status_type] = status.key();
      expect(status_field == 1 && status_type == 0, "unexpected SessionLog field " + std::to_string(status_field));
      event.session_start = status.varint() == 1;
    } else {
      throw std::runtime_error("unexpected Event field " + std::to_string(field));
    }
  }
  return event;
}

}  // namespace

std::vector<Event> read_event_file(const std::string& path) {
  const auto bytes = util::read_file(path);
  Reader in{bytes, 0, bytes.size()};
  std::vector<Event> events;
  while (!in.done()) {
    const auto record = "record " + std::to_string(events.size()) + " of " + path;
    const auto length_bytes = bytes.substr(in.at, 8);
    const uint64_t length = in.fixed(8);
    expect(in.fixed(4) == masked_crc32c(length_bytes), record + ": length CRC mismatch");
    const auto data = in.take(length);
    expect(in.fixed(4) == masked_crc32c(data), record + ": data CRC mismatch");
    events.push_back(decode_event(data));
  }
  return events;
}

}  // namespace lowbit::testing
