#pragma once
// `lowbit train --nproc N`: the program itself started N times on this machine as ranks 0..N-1 of
// one data-parallel run, with the variables torchrun sets (RANK, WORLD_SIZE, LOCAL_RANK,
// LOCAL_WORLD_SIZE, MASTER_ADDR=127.0.0.1, MASTER_PORT) and, unless set, OMP_NUM_THREADS = the
// machine's cores / N (LibTorch's intra-op threads per process). The launcher trains nothing itself: it
// waits for its processes and forwards SIGINT / SIGTERM to them. When one fails, the others (which
// see their collectives fail and stop on their own) are given `grace` to exit, then killed; the
// launcher reports which rank failed how and returns that rank's exit status (128 + signal for a
// signal), so that no process is left behind and no failure goes unreported.

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace lowbit::engine::dist {

struct LaunchOptions {
  int64_t nproc = 1;
  int64_t master_port = 0;  // 0: a free port of the loopback
  std::chrono::seconds grace{30};
};

// Runs `program` `args` as LaunchOptions::nproc processes; returns the run's exit status.
int launch_local(const std::string& program, const std::vector<std::string>& args, const LaunchOptions& options);

// A TCP port of 127.0.0.1 that nothing listens on now.
int64_t free_port();

}  // namespace lowbit::engine::dist
