#include <lowbit/csrc/engine/logging/progress.h>

#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <iostream>
#include <sstream>

using lowbit::engine::format_duration;
using lowbit::engine::Progress;
using lowbit::engine::ProgressOptions;
using lowbit::engine::ProgressStyle;

namespace {

// A clock the test sets by hand.
struct FakeClock {
  double now = 1000.0;
  std::function<double()> function() {
    return [this] { return now; };
  }
};

}  // namespace

TEST(Progress, DurationIsHoursMinutesSeconds) {
  EXPECT_EQ(format_duration(0), "0:00:00");
  EXPECT_EQ(format_duration(83.9), "0:01:23");
  EXPECT_EQ(format_duration(25 * 3600 + 61), "25:01:01");
  EXPECT_EQ(format_duration(-3), "0:00:00");
}

TEST(Progress, RateAndEtaAverageOverTheEpoch) {
  FakeClock clock;
  std::ostringstream out;
  Progress progress(out, ProgressOptions().clock(clock.function()));
  progress.start_epoch(3, 90, 500);
  clock.now += 0.5;
  progress.step(1, 128, 2.345678, 0.1);
  // 128 images in 0.5 s; 499 steps left at 0.5 s each.
  EXPECT_EQ(progress.line(), "epoch 3/90  step 1/500  loss 2.3457  lr 0.1  256 img/s  ETA 0:04:09");
  clock.now += 99.5;
  progress.step(200, 128 * 199, 1.5, 3.2e-5);
  // 25600 images in 100 s; 300 steps left at 0.5 s each.
  EXPECT_EQ(progress.line(), "epoch 3/90  step 200/500  loss 1.5000  lr 3.2e-05  256 img/s  ETA 0:02:30");
  clock.now += 150;
  progress.step(500, 128 * 300, 1.25, 0.05);
  EXPECT_EQ(progress.line(), "epoch 3/90  step 500/500  loss 1.2500  lr 0.05  256 img/s  took 0:04:10");
}

TEST(Progress, ShowsTheTermsOfADistilledLoss) {
  FakeClock clock;
  std::ostringstream out;
  Progress progress(out, ProgressOptions().clock(clock.function()));
  progress.start_epoch(1, 2, 10);
  clock.now += 1;
  progress.step(1, 10, 1.25, 0.1, {{"distribution", 0.75}, {"dgd", 0.5}});
  EXPECT_EQ(progress.line(), "epoch 1/2  step 1/10  loss 1.2500 (distribution 0.7500, dgd 0.5000)  lr 0.1  10 img/s  ETA 0:00:09");
  progress.start_epoch(2, 2, 10);
  clock.now += 1;
  progress.step(1, 10, 1.0, 0.1);
  EXPECT_EQ(progress.line(), "epoch 2/2  step 1/10  loss 1.0000  lr 0.1  10 img/s  ETA 0:00:09");
}

TEST(Progress, LinesPrintsEveryNStepsAndTheLast) {
  FakeClock clock;
  std::ostringstream out;
  Progress progress(out, ProgressOptions().style(ProgressStyle::Lines).line_every(2).clock(clock.function()));
  progress.start_epoch(1, 2, 5);
  for (int64_t step = 1; step <= 5; ++step) {
    clock.now += 1;
    progress.step(step, 10, 1.0 / step, 0.1);
  }
  progress.end_epoch();  // the last step is shown already: nothing more
  EXPECT_EQ(out.str(),
            "epoch 1/2  step 2/5  loss 0.5000  lr 0.1  10 img/s  ETA 0:00:03\n"
            "epoch 1/2  step 4/5  loss 0.2500  lr 0.1  10 img/s  ETA 0:00:01\n"
            "epoch 1/2  step 5/5  loss 0.2000  lr 0.1  10 img/s  took 0:00:05\n");
}

TEST(Progress, LinesShowsAnEpochEndedEarly) {
  FakeClock clock;
  std::ostringstream out;
  Progress progress(out, ProgressOptions().line_every(100).clock(clock.function()));
  progress.start_epoch(1, 1, 1000);
  clock.now += 2;
  progress.step(3, 30, 0.5, 0.1);
  EXPECT_EQ(out.str(), "");
  progress.end_epoch();
  EXPECT_EQ(out.str(), "epoch 1/1  step 3/1000  loss 0.5000  lr 0.1  15 img/s  ETA 0:11:04\n");
}

TEST(Progress, LiveRedrawsInPlaceAtMostEveryInterval) {
  FakeClock clock;
  std::ostringstream out;
  Progress progress(out, ProgressOptions().style(ProgressStyle::Live).redraw_seconds(0.25).clock(clock.function()));
  progress.start_epoch(1, 1, 4);
  clock.now += 0.125;
  progress.step(1, 1, 10.0, 0.1);  // the first step: drawn
  clock.now += 0.125;
  progress.step(2, 1, 1.0, 0.1);   // 0.125 s after the last draw: skipped
  clock.now += 0.125;
  progress.step(3, 1, 1.0, 0.1);   // 0.25 s: drawn, blanking the one character it is shorter by
  const auto first = "epoch 1/1  step 1/4  loss 10.0000  lr 0.1  8 img/s  ETA 0:00:00";
  const auto third = "epoch 1/1  step 3/4  loss 1.0000  lr 0.1  8 img/s  ETA 0:00:00";
  EXPECT_EQ(out.str(), std::string("\r") + first + "\r" + third + " ");
  clock.now += 0.0625;
  progress.step(4, 1, 1.0, 0.1);  // the last step: drawn however soon
  progress.end_epoch();
  const auto text = out.str();
  EXPECT_EQ(text.substr(text.rfind('\r')), "\repoch 1/1  step 4/4  loss 1.0000  lr 0.1  9 img/s  took 0:00:00\n");
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1);
}

TEST(Progress, StyleFollowsTheStream) {
  std::ostringstream out;
  EXPECT_EQ(lowbit::engine::progress_style_for(out), ProgressStyle::Lines);
  // Live only where standard output is a terminal (not under ctest, which pipes it).
  EXPECT_EQ(lowbit::engine::progress_style_for(std::cout),
            ::isatty(1) ? ProgressStyle::Live : ProgressStyle::Lines);
}
