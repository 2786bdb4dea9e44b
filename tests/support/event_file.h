#pragma once
// Reads a TensorBoard event file back for the tests: checks the TFRecord framing and both
// masked CRC-32Cs of every record, and decodes the Event fields lowbit writes (see
// csrc/engine/tensorboard.h). Any mismatch throws std::runtime_error naming the record.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace lowbit::testing {

struct Event {
  double wall_time = 0;
  int64_t step = 0;
  std::string file_version;                           // Event.file_version, "" when absent
  bool session_start = false;                         // Event.session_log.status == START
  std::vector<std::pair<std::string, float>> scalars;  // Event.summary.value: (tag, simple_value)
};

std::vector<Event> read_event_file(const std::string& path);

}  // namespace lowbit::testing
