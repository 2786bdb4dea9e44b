#pragma once
// The trainer's progress line:
//   epoch 3/90  step 120/500  loss 1.2345  lr 0.1  1234 img/s  ETA 0:01:23
// and with the terms of a distilled objective, after the loss:
//   epoch 3/90  step 120/500  loss 1.2345 (distribution 0.9000, dgd 0.3345)  lr 0.1  ...
// In a terminal (Live) one line is redrawn in place with '\r', at most every redraw_seconds,
// and ended with '\n' when the epoch ends; in a log (Lines) a line is printed every line_every
// steps and at the epoch's last step. The epoch's last line shows its duration instead of an
// ETA ("took 0:05:12"). images/s and the ETA average over the epoch so far. The values shown
// are asked for only when a line is drawn, so that a trainer reads them from the device only then.

#include <torch/arg.h>

#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

namespace lowbit::engine {

enum class ProgressStyle { Live, Lines };

// Live when `out` is std::cout (std::cerr, std::clog) and standard output (error) is a terminal.
ProgressStyle progress_style_for(const std::ostream& out);

// Seconds on a monotonic clock (std::chrono::steady_clock).
double steady_seconds();

// What a line shows besides the counts.
struct ProgressValues {
  double loss = 0, lr = 0;
  std::vector<std::pair<std::string, double>> terms;  // the named parts of the loss, if it has any
};

struct ProgressOptions {
  TORCH_ARG(ProgressStyle, style) = ProgressStyle::Lines;
  TORCH_ARG(double, redraw_seconds) = 0.2;
  TORCH_ARG(int64_t, line_every) = 100;
  TORCH_ARG(std::function<double()>, clock) = steady_seconds;  // seconds; tests inject their own
};

class Progress {
 public:
  Progress(std::ostream& out, ProgressOptions options);

  // Starts epoch `epoch` of `epochs` (shown as given, so pass 1-based numbers), `steps` long.
  void start_epoch(int64_t epoch, int64_t epochs, int64_t steps);
  // After step `step` (1..steps) of the epoch, which trained on `images` images; `values` is
  // called when this step's line is drawn.
  void step(int64_t step, int64_t images, const std::function<ProgressValues()>& values);
  void step(int64_t step, int64_t images, double loss, double lr,
            std::vector<std::pair<std::string, double>> terms = {});
  // Shows the last step if it is not yet shown; Live also ends the line.
  void end_epoch();

  // The progress line as it stands (with the values last given or asked for), without '\r' or '\n'.
  std::string line() const;

 private:
  void draw();

  std::ostream& out_;
  ProgressOptions options_;
  int64_t epoch_ = 0, epochs_ = 0, steps_ = 0;
  int64_t step_ = 0, images_ = 0;
  ProgressValues values_;
  double epoch_start_ = 0, now_ = 0;
  int64_t drawn_step_ = -1;  // the step last shown, -1 before the first
  double drawn_at_ = 0;
  size_t drawn_width_ = 0;   // Live: the characters to blank when the next line is shorter
};

// "H:MM:SS" for a duration in seconds (rounded down; hours unbounded).
std::string format_duration(double seconds);

}  // namespace lowbit::engine
