// Where a process stands in a data-parallel run, read from torchrun's or SLURM's variables.
#include <lowbit/csrc/engine/dist/environment.h>

#include <gtest/gtest.h>

#include <map>

namespace {

using lowbit::engine::dist::Environment;
using lowbit::engine::dist::read_environment;
using lowbit::engine::dist::SetupError;

Environment environment_of(const std::map<std::string, std::string>& variables) {
  return read_environment([&](const std::string& name) -> std::optional<std::string> {
    const auto it = variables.find(name);
    return it == variables.end() ? std::nullopt : std::optional<std::string>(it->second);
  });
}

TEST(Environment, WithoutALauncherOneProcess) {
  const auto e = environment_of({});
  EXPECT_FALSE(e.distributed());
  EXPECT_EQ(e.rank, 0);
  EXPECT_EQ(e.world_size, 1);
}

TEST(Environment, TorchrunVariables) {
  const auto e = environment_of({{"RANK", "5"}, {"WORLD_SIZE", "16"}, {"LOCAL_RANK", "1"}, {"LOCAL_WORLD_SIZE", "8"},
                       {"MASTER_ADDR", "10.0.0.1"}, {"MASTER_PORT", "29400"}});
  EXPECT_TRUE(e.distributed());
  EXPECT_EQ(e.source, "torchrun");
  EXPECT_EQ(e.rank, 5);
  EXPECT_EQ(e.world_size, 16);
  EXPECT_EQ(e.local_rank, 1);
  EXPECT_EQ(e.local_world_size, 8);
  EXPECT_EQ(e.master_addr, "10.0.0.1");
  EXPECT_EQ(e.master_port, 29400);
}

TEST(Environment, SlurmVariablesWithTheLaunchNodeAsMaster) {
  const auto e = environment_of({{"SLURM_PROCID", "9"}, {"SLURM_NTASKS", "16"}, {"SLURM_LOCALID", "1"},
                       {"SLURM_TASKS_PER_NODE", "8(x2)"}, {"SLURM_LAUNCH_NODE_IPADDR", "10.0.0.7"}});
  EXPECT_EQ(e.source, "slurm");
  EXPECT_EQ(e.rank, 9);
  EXPECT_EQ(e.world_size, 16);
  EXPECT_EQ(e.local_rank, 1);
  EXPECT_EQ(e.local_world_size, 8);
  EXPECT_EQ(e.master_addr, "10.0.0.7");
  EXPECT_EQ(e.master_port, 29500);
}

TEST(Environment, TorchrunInsideASlurmAllocationWins) {
  const auto e = environment_of({{"SLURM_PROCID", "3"}, {"SLURM_NTASKS", "4"}, {"RANK", "0"}, {"WORLD_SIZE", "2"}});
  EXPECT_EQ(e.source, "torchrun");
  EXPECT_EQ(e.rank, 0);
  EXPECT_EQ(e.world_size, 2);
}

TEST(Environment, BadValuesNameTheirVariable) {
  const std::vector<std::pair<std::map<std::string, std::string>, std::string>> cases{
      {{{"RANK", "one"}, {"WORLD_SIZE", "2"}}, "RANK='one'"},
      {{{"RANK", "2"}, {"WORLD_SIZE", "2"}}, "rank 2 is outside the world size 2"},
      {{{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_PORT", "70000"}}, "MASTER_PORT=70000"},
      {{{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"LOCAL_WORLD_SIZE", "0"}}, "(LOCAL_WORLD_SIZE)"},
  };
  for (const auto& [variables, expected] : cases) {
    try {
      environment_of(variables);
      ADD_FAILURE() << "accepted, expected: " << expected;
    } catch (const SetupError& e) {
      EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << e.what();
    }
  }
}

}  // namespace
