#pragma once
// Where this process stands in a data-parallel run, from the environment its launcher set:
//   torchrun / `lowbit train --nproc N`:  RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE,
//                                         MASTER_ADDR, MASTER_PORT
//   SLURM (srun, one task per GPU):       SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID,
//                                         SLURM_NTASKS_PER_NODE (or SLURM_TASKS_PER_NODE "4(x2)"),
//                                         MASTER_ADDR / MASTER_PORT if set, else the
//                                         SLURM_LAUNCH_NODE_IPADDR and 29500
// torchrun's variables win when both are present (torchrun inside an allocation). Neither: one
// process, rank 0 of 1. A malformed or inconsistent value is a SetupError naming the variable.

#include <lowbit/csrc/util/input_error.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace lowbit::engine::dist {

// A distributed run cannot start as configured (environment, port, master): exit status 2.
class SetupError : public InputError {
 public:
  using InputError::InputError;
};

struct Environment {
  int64_t rank = 0;
  int64_t world_size = 1;
  int64_t local_rank = 0;
  int64_t local_world_size = 1;
  std::string master_addr = "127.0.0.1";
  int64_t master_port = 29500;
  std::string source = "none";  // "torchrun", "slurm" or "none": for messages

  // Started by a launcher: trains through a process group, also of one process (which exercises
  // the data-parallel path on one GPU).
  bool distributed() const { return source != "none"; }
};

// A variable's value, or nullopt when unset (the default reads the process environment).
using Lookup = std::function<std::optional<std::string>(const std::string& name)>;

Environment read_environment(const Lookup& lookup = {});

}  // namespace lowbit::engine::dist
