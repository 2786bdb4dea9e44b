#include <lowbit/csrc/engine/logging/tensorboard.h>

#include <gtest/gtest.h>

#include <lowbit/csrc/util/files.h>

#include "support/event_file.h"
#include "support/temp_dir.h"

#include <unistd.h>

#include <chrono>

using lowbit::engine::TensorBoardWriter;
using lowbit::testing::read_event_file;
using lowbit::testing::TempDir;

namespace {

double now() { return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count(); }

std::string host() {
  char name[256] = {};
  ::gethostname(name, sizeof(name) - 1);
  return name;
}

}  // namespace

TEST(TensorBoard, NewFileIsNamedAndStartsWithFileVersion) {
  TempDir dir;
  const double before = now();
  TensorBoardWriter writer(dir.file("run/tb"));  // missing folders are created
  const double after = now();
  const std::string prefix = dir.file("run/tb") + "/events.out.tfevents.";
  ASSERT_EQ(writer.path().rfind(prefix, 0), 0u) << writer.path();
  const auto seconds_and_host = writer.path().substr(prefix.size());
  const auto dot = seconds_and_host.find('.');
  EXPECT_NEAR(std::stod(seconds_and_host.substr(0, dot)), before, 2.0);
  EXPECT_EQ(seconds_and_host.substr(dot + 1), host());

  const auto events = read_event_file(writer.path());
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].file_version, "brain.Event:2");
  EXPECT_GE(events[0].wall_time, before);
  EXPECT_LE(events[0].wall_time, after);
}

TEST(TensorBoard, ScalarsReadBackWithTagsStepsAndValues) {
  TempDir dir;
  TensorBoardWriter writer(dir.path());
  writer.add_scalar("train/loss", 2.5, 0);
  writer.add_scalars({{"train/loss", 0.125}, {"train/lr", 0.1}}, 300);
  writer.add_scalar("eval/top1", 71.25, int64_t{1} << 40);  // a step of six varint bytes
  writer.add_scalar("debug/negative_step", -1.0, -7);        // int64 two's complement: ten bytes

  const auto events = read_event_file(writer.path());
  ASSERT_EQ(events.size(), 5u);
  using Scalars = std::vector<std::pair<std::string, float>>;
  EXPECT_EQ(events[1].step, 0);
  EXPECT_EQ(events[1].scalars, (Scalars{{"train/loss", 2.5f}}));
  EXPECT_EQ(events[2].step, 300);
  EXPECT_EQ(events[2].scalars, (Scalars{{"train/loss", 0.125f}, {"train/lr", 0.1f}}));
  EXPECT_EQ(events[3].step, int64_t{1} << 40);
  EXPECT_EQ(events[3].scalars, (Scalars{{"eval/top1", 71.25f}}));
  EXPECT_EQ(events[4].step, -7);
  EXPECT_EQ(events[4].scalars, (Scalars{{"debug/negative_step", -1.0f}}));
}

TEST(TensorBoard, EachEventIsInTheFileAtOnce) {
  TempDir dir;
  TensorBoardWriter writer(dir.path());
  writer.add_scalar("train/loss", 1.0, 1);
  EXPECT_EQ(read_event_file(writer.path()).size(), 2u);  // the writer is still open
  writer.add_scalar("train/loss", 0.5, 2);
  EXPECT_EQ(read_event_file(writer.path()).size(), 3u);
}

TEST(TensorBoard, DiscardFromWritesSessionLogStart) {
  TempDir dir;
  TensorBoardWriter writer(dir.path());
  writer.discard_from(1201);
  const auto events = read_event_file(writer.path());
  ASSERT_EQ(events.size(), 2u);
  EXPECT_TRUE(events[1].session_start);
  EXPECT_EQ(events[1].step, 1201);
  EXPECT_TRUE(events[1].scalars.empty());
}

TEST(TensorBoard, WritersInOneDirectoryNeverShareAFile) {
  TempDir dir;
  TensorBoardWriter first(dir.path());
  TensorBoardWriter second(dir.path());
  TensorBoardWriter third(dir.path());
  EXPECT_NE(first.path(), second.path());
  EXPECT_NE(second.path(), third.path());
  EXPECT_NE(first.path(), third.path());
  EXPECT_EQ(lowbit::util::list_directory(dir.path()).size(), 3u);
}

TEST(TensorBoard, ReaderChecksBothCrcs) {
  TempDir dir;
  std::string bytes;
  {
    TensorBoardWriter writer(dir.path());
    writer.add_scalar("train/loss", 1.0, 1);
    bytes = lowbit::util::read_file(writer.path());
  }
  auto length_flipped = bytes;
  length_flipped[9] ^= 1;  // in the first record's length CRC
  dir.write("length", length_flipped);
  EXPECT_THROW(read_event_file(dir.file("length")), std::runtime_error);
  auto data_flipped = bytes;
  data_flipped[bytes.size() - 6] ^= 1;  // in the last record's data
  dir.write("data", data_flipped);
  EXPECT_THROW(read_event_file(dir.file("data")), std::runtime_error);
}
