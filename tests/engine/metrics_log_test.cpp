#include <lowbit/csrc/engine/logging/metrics_log.h>

#include <gtest/gtest.h>

#include <c10/util/Exception.h>
#include <nlohmann/json.hpp>

#include <lowbit/csrc/util/files.h>

#include "support/error_of.h"
#include "support/event_file.h"
#include "support/temp_dir.h"

#include <cmath>
#include <limits>

using lowbit::engine::MetricsLog;
using lowbit::engine::MetricsRecord;
using lowbit::testing::read_event_file;
using lowbit::testing::TempDir;
using lowbit::util::read_file;

using lowbit::testing::error_of;

namespace {

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  for (size_t start = 0, end; (end = text.find('\n', start)) != std::string::npos; start = end + 1) {
    out.push_back(text.substr(start, end - start));
  }
  return out;
}

std::vector<nlohmann::json> jsonl(const std::string& path) {
  std::vector<nlohmann::json> records;
  for (const auto& line : lines(read_file(path))) records.push_back(nlohmann::json::parse(line));
  return records;
}

// The event files of `dir`, oldest first (their names start with the creation second).
std::vector<std::string> event_files(const std::string& dir) {
  std::vector<std::string> paths;
  for (const auto& entry : lowbit::util::list_directory(dir)) {
    if (entry.name.find("tfevents") != std::string::npos) paths.push_back(dir + "/" + entry.name);
  }
  return paths;
}

struct CollectWarnings : c10::WarningHandler {
  void process(const c10::Warning& warning) override { messages.push_back(warning.msg()); }
  std::vector<std::string> messages;
};

}  // namespace

TEST(MetricsLog, JsonlLinesCarryTheRecordInOrder) {
  TempDir dir;
  MetricsLog log(dir.file("run"));
  log.write({"train", 1, 100, {{"loss", 0.52}, {"loss_kd", 0.25}, {"lr", 0.1}, {"images/s", 1234.5}}});
  log.write({"eval", 1, 500, {{"loss", 0.9}, {"top1", 71.25}, {"top5", 90.5}}});

  EXPECT_EQ(lines(read_file(dir.file("run/metrics.jsonl")))[0],
            R"({"kind":"train","epoch":1,"step":100,"loss":0.52,"loss_kd":0.25,"lr":0.1,"images/s":1234.5})");
  const auto records = jsonl(dir.file("run/metrics.jsonl"));
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[1]["kind"], "eval");
  EXPECT_EQ(records[1]["epoch"], 1);
  EXPECT_EQ(records[1]["step"], 500);
  EXPECT_EQ(records[1]["top1"], 71.25);
  EXPECT_EQ(records[1]["top5"], 90.5);
}

TEST(MetricsLog, OneCsvPerKindWithTheHeaderOfItsFirstRecord) {
  TempDir dir;
  CollectWarnings warnings;
  c10::WarningUtils::WarningHandlerGuard guard(&warnings);
  {
    MetricsLog log(dir.path());
    log.write({"train", 0, 10, {{"loss", 2.0}, {"lr", 0.1}}});
    log.write({"eval", 0, 20, {{"top1", 10.0}}});
    log.write({"train", 0, 20, {{"lr", 0.05}}});                              // no loss: empty cell
    log.write({"train", 1, 30, {{"loss", 1.5}, {"lr", 0.01}, {"kd", 0.3}}});  // kd: not a column
    log.write({"train", 1, 40, {{"loss", 1.25}, {"lr", 1e-5}, {"kd", 0.2}}});
  }
  EXPECT_EQ(read_file(dir.file("metrics_train.csv")),
            "epoch,step,loss,lr\n"
            "0,10,2,0.1\n"
            "0,20,,0.05\n"
            "1,30,1.5,0.01\n"
            "1,40,1.25,1e-05\n");
  EXPECT_EQ(read_file(dir.file("metrics_eval.csv")), "epoch,step,top1\n0,20,10\n");
  ASSERT_EQ(warnings.messages.size(), 1u);  // once per name
  EXPECT_NE(warnings.messages[0].find("metrics_train.csv: 'kd' is not a column"), std::string::npos)
      << warnings.messages[0];
  EXPECT_EQ(jsonl(dir.file("metrics.jsonl"))[3]["kd"], 0.3);  // the JSONL keeps it
}

TEST(MetricsLog, TensorBoardScalarsAreTaggedKindSlashName) {
  TempDir dir;
  {
    MetricsLog log(dir.path());
    log.write({"train", 0, 10, {{"loss", 2.0}, {"lr", 0.1}}});
    log.write({"eval", 0, 20, {{"top1", 10.5}}});
  }
  const auto files = event_files(dir.path());
  ASSERT_EQ(files.size(), 1u);
  const auto events = read_event_file(files[0]);
  ASSERT_EQ(events.size(), 4u);  // file_version, SessionLog START at 0, two records
  EXPECT_EQ(events[0].file_version, "brain.Event:2");
  EXPECT_TRUE(events[1].session_start);
  EXPECT_EQ(events[1].step, 0);
  using Scalars = std::vector<std::pair<std::string, float>>;
  EXPECT_EQ(events[2].step, 10);
  EXPECT_EQ(events[2].scalars, (Scalars{{"train/loss", 2.0f}, {"train/lr", 0.1f}}));
  EXPECT_EQ(events[3].step, 20);
  EXPECT_EQ(events[3].scalars, (Scalars{{"eval/top1", 10.5f}}));
}

TEST(MetricsLog, NonFiniteValuesAreNullInJsonAndNamedInCsv) {
  TempDir dir;
  {
    MetricsLog log(dir.path());
    log.write({"train", 0, 1, {{"loss", std::nan("")}, {"grad_norm", std::numeric_limits<double>::infinity()}}});
  }
  EXPECT_EQ(lines(read_file(dir.file("metrics.jsonl")))[0],
            R"({"kind":"train","epoch":0,"step":1,"loss":null,"grad_norm":null})");
  EXPECT_EQ(lines(read_file(dir.file("metrics_train.csv")))[1], "0,1,nan,inf");
  const auto events = read_event_file(event_files(dir.path())[0]);
  EXPECT_TRUE(std::isnan(events[2].scalars[0].second));
  EXPECT_TRUE(std::isinf(events[2].scalars[1].second));
}

TEST(MetricsLog, ResumeContinuesTheFilesLessTheRecordsPastTheCheckpoint) {
  TempDir dir;
  {
    MetricsLog log(dir.path());
    for (int64_t step : {10, 20, 30}) log.write({"train", 0, step, {{"loss", 1.0 / step}, {"lr", 0.1}}});
    log.write({"eval", 0, 20, {{"top1", 50.0}}});
  }
  {
    MetricsLog log(dir.path(), /*resume_step=*/20);  // the checkpoint was taken after step 20
    log.write({"train", 0, 30, {{"lr", 0.1}, {"loss", 0.03}}});  // other order: the header's is kept
  }
  std::vector<int64_t> steps;
  for (const auto& record : jsonl(dir.file("metrics.jsonl"))) steps.push_back(record["step"]);
  EXPECT_EQ(steps, (std::vector<int64_t>{10, 20, 20, 30}));
  EXPECT_EQ(read_file(dir.file("metrics_train.csv")),
            "epoch,step,loss,lr\n"
            "0,10,0.1,0.1\n"
            "0,20,0.05,0.1\n"
            "0,30,0.03,0.1\n");
  EXPECT_EQ(read_file(dir.file("metrics_eval.csv")), "epoch,step,top1\n0,20,50\n");

  // The first run's file keeps all it logged; the second tells TensorBoard to drop steps >= 21.
  const auto files = event_files(dir.path());
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(read_event_file(files[0]).size(), 6u);
  const auto resumed = read_event_file(files[1]);
  ASSERT_EQ(resumed.size(), 3u);
  EXPECT_TRUE(resumed[1].session_start);
  EXPECT_EQ(resumed[1].step, 21);
  EXPECT_EQ(resumed[2].step, 30);
}

TEST(MetricsLog, ResumeDropsALineCutShortByACrash) {
  TempDir dir;
  {
    MetricsLog log(dir.path());
    log.write({"train", 0, 10, {{"loss", 1.0}}});
  }
  lowbit::util::OutputFile(dir.file("metrics.jsonl"), lowbit::util::OutputFile::Mode::Append).write(R"({"kind":"tr)");
  lowbit::util::OutputFile(dir.file("metrics_train.csv"), lowbit::util::OutputFile::Mode::Append).write("0,2");
  {
    MetricsLog log(dir.path(), 10);
    log.write({"train", 0, 20, {{"loss", 0.5}}});
  }
  EXPECT_EQ(jsonl(dir.file("metrics.jsonl")).size(), 2u);
  EXPECT_EQ(read_file(dir.file("metrics_train.csv")), "epoch,step,loss\n0,10,1\n0,20,0.5\n");
}

TEST(MetricsLog, ResumeNamesAMalformedLine) {
  TempDir dir;
  dir.write("metrics.jsonl", "{\"step\": 1}\nnot json\n");
  const auto msg = error_of([&] { MetricsLog(dir.path(), 5); });
  EXPECT_NE(msg.find(dir.file("metrics.jsonl") + ":2: not a metrics record"), std::string::npos) << msg;
}

TEST(MetricsLog, FreshRunReplacesTheMetricsFiles) {
  TempDir dir;
  {
    MetricsLog log(dir.path());
    log.write({"train", 0, 10, {{"loss", 1.0}}});
    log.write({"eval", 0, 10, {{"top1", 1.0}}});
  }
  dir.write("notes.txt", "kept");
  {
    MetricsLog log(dir.path());
    log.write({"train", 0, 5, {{"acc", 0.5}}});
  }
  EXPECT_EQ(jsonl(dir.file("metrics.jsonl")).size(), 1u);
  EXPECT_EQ(read_file(dir.file("metrics_train.csv")), "epoch,step,acc\n0,5,0.5\n");
  EXPECT_FALSE(lowbit::util::file_exists(dir.file("metrics_eval.csv")));
  EXPECT_EQ(read_file(dir.file("notes.txt")), "kept");
}

TEST(MetricsLog, MalformedRecordsAreRejectedBeforeAnythingIsWritten) {
  TempDir dir;
  MetricsLog log(dir.path());
  const auto comma = error_of([&] { log.write({"train", 0, 7, {{"loss", 1.0}, {"a,b", 2.0}}}); });
  EXPECT_NE(comma.find(dir.path() + ": 'train' record at step 7: metric name 'a,b' must be non-empty without ','"),
            std::string::npos)
      << comma;
  const auto reserved = error_of([&] { log.write({"train", 0, 7, {{"step", 1.0}}}); });
  EXPECT_NE(reserved.find("metric name 'step' is reserved"), std::string::npos) << reserved;
  const auto twice = error_of([&] { log.write({"train", 0, 7, {{"loss", 1.0}, {"loss", 2.0}}}); });
  EXPECT_NE(twice.find("metric name 'loss' appears twice"), std::string::npos) << twice;
  const auto kind = error_of([&] { log.write({"train/eval", 0, 7, {{"loss", 1.0}}}); });
  EXPECT_NE(kind.find("metrics record kind 'train/eval': expected letters, digits and '_'"), std::string::npos) << kind;
  EXPECT_EQ(read_file(dir.file("metrics.jsonl")), "");
  EXPECT_FALSE(lowbit::util::file_exists(dir.file("metrics_train.csv")));
}
