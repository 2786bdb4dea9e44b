#pragma once
// TensorBoard event files, written without protobuf or TensorFlow.
//   file    <log_dir>/events.out.tfevents.<unix seconds>.<hostname>, in TFRecord framing: per record
//           uint64 length, uint32 masked_crc32c(length bytes), data, uint32 masked_crc32c(data), all
//           little-endian; masked_crc32c(x) = ((crc >> 15) | (crc << 17)) + 0xa282ead8.
//   records Event messages (tensorflow/core/util/event.proto) in protobuf wire format:
//           Event{wall_time = 1 (double), step = 2 (int64), file_version = 3 (string),
//                 summary = 5 (Summary), session_log = 7 (SessionLog)}
//           Summary{repeated value = 1 (Value)}, Value{tag = 1 (string), simple_value = 2 (float)}
//           SessionLog{status = 1 (enum; START = 1)}
//   The first event of a file carries file_version "brain.Event:2".

#include <lowbit/csrc/util/files.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace lowbit::engine {

class TensorBoardWriter {
 public:
  // Creates `log_dir` (and its parents) if needed and starts a new event file there. A name
  // already taken (a second writer in the same second) gets a suffix ".1", ".2", ...
  explicit TensorBoardWriter(const std::string& log_dir);

  // One event holding a scalar per (tag, value), at `step`, stamped with the current time.
  // Each event is written with one write(2), so a killed run keeps every event it logged.
  void add_scalars(const std::vector<std::pair<std::string, double>>& values, int64_t step);
  void add_scalar(const std::string& tag, double value, int64_t step) { add_scalars({{tag, value}}, step); }

  // Writes SessionLog START at `step`: TensorBoard's loader then drops the events with
  // step >= `step` that it read from earlier files of this directory (a resumed run's repeats
  // of steps past its checkpoint), as PyTorch's SummaryWriter(purge_step=...) does.
  void discard_from(int64_t step);

  const std::string& path() const { return file_.path(); }

 private:
  void write_event(int64_t step, const std::string& payload);
  util::OutputFile file_;
};

}  // namespace lowbit::engine
