// The command line's errors: one line "lowbit: error: ..." and the documented exit status
// (docs/cli.md) for every kind of exception a command can throw, std::runtime_error included.
#include <lowbit/csrc/engine/dist/process_group.h>
#include <lowbit/csrc/engine/exit_status.h>
#include <lowbit/csrc/engine/recipe/recipe_error.h>
#include <lowbit/csrc/util/input_error.h>

#include <gtest/gtest.h>

#include <c10/util/Exception.h>

#include <sstream>
#include <stdexcept>

namespace {

struct Outcome {
  int status;
  std::string err;
};

Outcome outcome_of(const std::function<int()>& command) {
  std::ostringstream err;
  const int status = lowbit::engine::exit_status_of(command, err);
  return {status, err.str()};
}

}  // namespace

TEST(ExitStatus, EveryExceptionGetsOneLineAndItsStatus) {
  EXPECT_EQ(outcome_of([] { return 0; }).status, 0);
  EXPECT_EQ(outcome_of([] { return 3; }).err, "");

  const auto recipe = outcome_of([]() -> int { throw lowbit::engine::RecipeError("r.yaml:3: device: 'cuda' asked for"); });
  EXPECT_EQ(recipe.status, 2);
  EXPECT_EQ(recipe.err, "lowbit: error: r.yaml:3: device: 'cuda' asked for\n");

  const auto input = outcome_of([]() -> int { throw lowbit::InputError("run/checkpoint.pt: cannot load this checkpoint"); });
  EXPECT_EQ(input.status, 2);
  EXPECT_EQ(input.err, "lowbit: error: run/checkpoint.pt: cannot load this checkpoint\n");

  const auto torch_error = outcome_of([]() -> int { TORCH_CHECK(false, "shapes differ\nsecond line"); });
  EXPECT_EQ(torch_error.status, 1);
  EXPECT_EQ(torch_error.err, "lowbit: error: shapes differ\n");

  const auto runtime = outcome_of([]() -> int { throw std::runtime_error("CUDA error: an illegal memory access\nmore"); });
  EXPECT_EQ(runtime.status, 1);
  EXPECT_EQ(runtime.err, "lowbit: error: CUDA error: an illegal memory access\n");

  const auto peer = outcome_of([]() -> int { throw lowbit::engine::dist::PeerError(1, 2, "a collective failed"); });
  EXPECT_EQ(peer.status, 1);
  EXPECT_NE(peer.err.find("lowbit train --resume"), std::string::npos) << peer.err;
}
