// data.workers: a number as written; 0 the machine's hardware threads shared by its processes.
#include <lowbit/csrc/engine/datasets/decoding_threads.h>

#include <gtest/gtest.h>

#include <c10/util/Exception.h>

#include <algorithm>
#include <cstdlib>
#include <optional>
#include <string>
#include <thread>

namespace {

using lowbit::engine::decoding_threads;

// Sets LOCAL_WORLD_SIZE (unset for nullopt) for the test's duration.
class LocalWorldSize {
 public:
  explicit LocalWorldSize(const std::optional<std::string>& value) {
    if (const char* old = std::getenv("LOCAL_WORLD_SIZE")) old_ = old;
    value ? ::setenv("LOCAL_WORLD_SIZE", value->c_str(), 1) : ::unsetenv("LOCAL_WORLD_SIZE");
  }
  ~LocalWorldSize() { old_ ? ::setenv("LOCAL_WORLD_SIZE", old_->c_str(), 1) : ::unsetenv("LOCAL_WORLD_SIZE"); }

 private:
  std::optional<std::string> old_;
};

const int64_t kHardware = std::max<int64_t>(1, std::thread::hardware_concurrency());

}  // namespace

TEST(DecodingThreads, AnExplicitCountIsKept) {
  const LocalWorldSize eight("8");
  EXPECT_EQ(decoding_threads(3), 3);
  EXPECT_EQ(decoding_threads(1000), 1000);
}

TEST(DecodingThreads, AutoUsesTheMachineForOneProcess) {
  const LocalWorldSize unset(std::nullopt);
  EXPECT_EQ(decoding_threads(0), kHardware);
  const LocalWorldSize empty("");
  EXPECT_EQ(decoding_threads(0), kHardware);
}

TEST(DecodingThreads, AutoSharesTheMachineAmongLocalProcessesAtLeastOne) {
  {
    const LocalWorldSize two("2");
    EXPECT_EQ(decoding_threads(0), std::max<int64_t>(1, kHardware / 2));
  }
  const LocalWorldSize many("100000");
  EXPECT_EQ(decoding_threads(0), 1);
}

TEST(DecodingThreads, ABadLocalWorldSizeIsNamed) {
  for (const char* bad : {"0", "-2", "two", "4x"}) {
    const LocalWorldSize set(bad);
    try {
      decoding_threads(0);
      ADD_FAILURE() << "accepted LOCAL_WORLD_SIZE=" << bad;
    } catch (const c10::ValueError& e) {
      EXPECT_NE(std::string(e.what()).find("LOCAL_WORLD_SIZE"), std::string::npos) << e.what();
    }
  }
}
