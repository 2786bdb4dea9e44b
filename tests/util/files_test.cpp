#include <lowbit/csrc/util/files.h>

#include <gtest/gtest.h>

#include <c10/util/Exception.h>

#include <unistd.h>

#include "support/error_of.h"
#include "support/temp_dir.h"

using lowbit::testing::TempDir;
using lowbit::util::OutputFile;

using lowbit::testing::error_of;

TEST(Files, MakeDirectoriesCreatesParentsAndAcceptsExisting) {
  TempDir dir;
  const auto nested = dir.file("a/b/c");
  lowbit::util::make_directories(nested);
  lowbit::util::make_directories(nested + "/");
  EXPECT_TRUE(lowbit::util::file_exists(nested));
  dir.write("f", "x");
  const auto msg = error_of([&] { lowbit::util::make_directories(dir.file("f/g")); });
  EXPECT_NE(msg.find(dir.file("f/g") + ": cannot create directory (Not a directory)"), std::string::npos) << msg;
}

TEST(Files, RemoveTreeRemovesEverythingButALinksTarget) {
  TempDir dir, outside;
  outside.write("kept", "x");
  lowbit::util::make_directories(dir.file("run/a/b"));
  dir.write("run/a/b/f", "x");
  dir.write("run/g", "y");
  ASSERT_EQ(::symlink(outside.path().c_str(), dir.file("run/link").c_str()), 0);
  lowbit::util::remove_tree(dir.file("run"));
  EXPECT_FALSE(lowbit::util::file_exists(dir.file("run")));
  EXPECT_TRUE(lowbit::util::file_exists(outside.file("kept")));
  lowbit::util::remove_tree(dir.file("run"));  // absent: nothing to do
}

TEST(Files, ListDirectoryIsSortedWithoutDots) {
  TempDir dir;
  dir.write("b", "");
  dir.write("a", "");
  lowbit::util::make_directories(dir.file("c"));
  std::vector<std::string> names;
  for (const auto& e : lowbit::util::list_directory(dir.path())) names.push_back(e.name);
  EXPECT_EQ(names, (std::vector<std::string>{"a", "b", "c"}));
}

TEST(Files, OutputFileModes) {
  TempDir dir;
  const auto path = dir.file("f");
  OutputFile(path, OutputFile::Mode::CreateNew).write("one\n");
  OutputFile(path, OutputFile::Mode::Append).write("two\n");
  EXPECT_EQ(lowbit::util::read_file(path), "one\ntwo\n");
  const auto msg = error_of([&] { OutputFile(path, OutputFile::Mode::CreateNew); });
  EXPECT_NE(msg.find(path + ": cannot open for writing (File exists)"), std::string::npos) << msg;
  OutputFile(path, OutputFile::Mode::Truncate).write("three\n");
  EXPECT_EQ(lowbit::util::read_file(path), "three\n");
}

TEST(Files, WritesReachTheFileBeforeClose) {
  TempDir dir;
  OutputFile file(dir.file("f"), OutputFile::Mode::Truncate);
  file.write("logged");
  EXPECT_EQ(lowbit::util::read_file(dir.file("f")), "logged");
}

TEST(Files, ReplaceFileLeavesNoTemporary) {
  TempDir dir;
  dir.write("f", "old");
  lowbit::util::replace_file(dir.file("f"), "new");
  EXPECT_EQ(lowbit::util::read_file(dir.file("f")), "new");
  ASSERT_EQ(lowbit::util::list_directory(dir.path()).size(), 1u);
  EXPECT_EQ(lowbit::util::list_directory(dir.path())[0].name, "f");
  lowbit::util::remove_file(dir.file("f"));
  lowbit::util::remove_file(dir.file("f"));  // already gone: not an error
  EXPECT_FALSE(lowbit::util::file_exists(dir.file("f")));
}

TEST(Files, ReadFileNamesAMissingFile) {
  const auto msg = error_of([] { lowbit::util::read_file("/nonexistent/metrics.jsonl"); });
  EXPECT_NE(msg.find("/nonexistent/metrics.jsonl: cannot open (No such file or directory)"), std::string::npos) << msg;
}
