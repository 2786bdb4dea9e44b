// data.workers: a number as written; 0 the machine's hardware threads shared by its processes.
#include <lowbit/csrc/engine/datasets/decoding_threads.h>
#include <lowbit/csrc/engine/dist/environment.h>

#include <gtest/gtest.h>

#include <c10/util/Exception.h>

#include <algorithm>
#include <cstdlib>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {

using lowbit::engine::decoding_threads;

// A torchrun-style environment for the test's duration: LOCAL_WORLD_SIZE (no launcher's variables
// at all for nullopt) of a run of WORLD_SIZE 100000.
class LocalWorldSize {
 public:
  explicit LocalWorldSize(const std::optional<std::string>& value) {
    for (const char* name : {"LOCAL_WORLD_SIZE", "WORLD_SIZE"}) {
      if (const char* old = std::getenv(name)) old_.emplace_back(name, old);
      ::unsetenv(name);
    }
    if (!value) return;
    ::setenv("LOCAL_WORLD_SIZE", value->c_str(), 1);
    ::setenv("WORLD_SIZE", "100000", 1);
  }
  ~LocalWorldSize() {
    for (const char* name : {"LOCAL_WORLD_SIZE", "WORLD_SIZE"}) ::unsetenv(name);
    for (const auto& [name, value] : old_) ::setenv(name.c_str(), value.c_str(), 1);
  }

 private:
  std::vector<std::pair<std::string, std::string>> old_;
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
  const LocalWorldSize one("1");
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
    } catch (const lowbit::engine::dist::SetupError& e) {
      EXPECT_NE(std::string(e.what()).find("LOCAL_WORLD_SIZE"), std::string::npos) << e.what();
    }
  }
}
