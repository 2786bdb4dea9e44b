#include <lowbit/csrc/engine/logging/progress.h>

#include <c10/util/Exception.h>

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>

namespace lowbit::engine {

ProgressStyle progress_style_for(const std::ostream& out) {
  const int fd = &out == &std::cout ? STDOUT_FILENO : (&out == &std::cerr || &out == &std::clog) ? STDERR_FILENO : -1;
  return fd >= 0 && ::isatty(fd) ? ProgressStyle::Live : ProgressStyle::Lines;
}

double steady_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::string format_duration(double seconds) {
  const auto total = static_cast<int64_t>(std::max(0.0, seconds));
  char text[32];
  std::snprintf(text, sizeof(text), "%lld:%02d:%02d", static_cast<long long>(total / 3600),
                static_cast<int>(total / 60 % 60), static_cast<int>(total % 60));
  return text;
}

Progress::Progress(std::ostream& out, ProgressOptions options) : out_(out), options_(std::move(options)) {
  TORCH_CHECK_VALUE(options_.line_every() > 0, "Progress: line_every must be positive, got ", options_.line_every());
  TORCH_CHECK_VALUE(static_cast<bool>(options_.clock()), "Progress: clock is empty");
}

void Progress::start_epoch(int64_t epoch, int64_t epochs, int64_t steps) {
  epoch_ = epoch;
  epochs_ = epochs;
  steps_ = steps;
  step_ = images_ = 0;
  values_ = ProgressValues();
  epoch_start_ = now_ = options_.clock()();
  drawn_step_ = -1;
  drawn_width_ = 0;
}

void Progress::step(int64_t step, int64_t images, const std::function<ProgressValues()>& values) {
  step_ = step;
  images_ += images;
  now_ = options_.clock()();
  const bool last = step_ == steps_;
  const bool due = options_.style() == ProgressStyle::Live
                       ? drawn_step_ < 0 || now_ - drawn_at_ >= options_.redraw_seconds()
                       : step_ % options_.line_every() == 0;
  if (due || last) {
    values_ = values();
    draw();
  }
}

void Progress::step(int64_t step, int64_t images, double loss, double lr,
                    std::vector<std::pair<std::string, double>> terms) {
  values_ = ProgressValues{loss, lr, std::move(terms)};
  this->step(step, images, [this] { return values_; });
}

void Progress::end_epoch() {
  if (step_ > 0 && drawn_step_ != step_) draw();
  if (options_.style() == ProgressStyle::Live && drawn_step_ >= 0) out_ << '\n' << std::flush;
}

std::string Progress::line() const {
  const double elapsed = now_ - epoch_start_;
  char numbers[96];
  std::snprintf(numbers, sizeof(numbers), "loss %.4f", values_.loss);
  std::string text = "epoch " + std::to_string(epoch_) + "/" + std::to_string(epochs_) + "  step " +
                     std::to_string(step_) + "/" + std::to_string(steps_) + "  " + numbers;
  const auto& terms = values_.terms;
  for (size_t i = 0; i < terms.size(); ++i) {
    std::snprintf(numbers, sizeof(numbers), " %.4f", terms[i].second);
    text += (i == 0 ? " (" : ", ") + terms[i].first + numbers + (i + 1 == terms.size() ? ")" : "");
  }
  std::snprintf(numbers, sizeof(numbers), "  lr %.4g", values_.lr);
  text += numbers;
  if (elapsed > 0) {
    std::snprintf(numbers, sizeof(numbers), "  %.0f img/s", images_ / elapsed);
    text += numbers;
  }
  if (step_ >= steps_) {
    text += "  took " + format_duration(elapsed);
  } else if (step_ > 0) {
    text += "  ETA " + format_duration(elapsed / step_ * (steps_ - step_));
  }
  return text;
}

void Progress::draw() {
  const auto text = line();
  if (options_.style() == ProgressStyle::Live) {
    out_ << '\r' << text << std::string(drawn_width_ > text.size() ? drawn_width_ - text.size() : 0, ' ');
    drawn_width_ = text.size();
  } else {
    out_ << text << '\n';
  }
  out_ << std::flush;
  drawn_step_ = step_;
  drawn_at_ = now_;
}

}  // namespace lowbit::engine
