#pragma once
// Starts the lowbit executable (LOWBIT_CLI_PATH) with `args` in a child process, with `env` set
// in its environment and its output (stdout and stderr) written to `log`; returns the child's
// pid, for tests that kill it or run several side by side (run_cli.h waits for one).

#include <sys/types.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

namespace lowbit::testing {

inline pid_t spawn_cli(const std::vector<std::string>& args, const std::string& log = "/dev/null",
                       const std::vector<std::pair<std::string, std::string>>& env = {}) {
  const pid_t pid = fork();
  if (pid == 0) {
    for (const auto& [name, value] : env) setenv(name.c_str(), value.c_str(), 1);
    if (freopen(log.c_str(), "w", stdout) == nullptr) _exit(126);
    dup2(fileno(stdout), fileno(stderr));
    std::vector<char*> argv{const_cast<char*>(LOWBIT_CLI_PATH)};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(LOWBIT_CLI_PATH, argv.data());
    _exit(127);
  }
  return pid;
}

}  // namespace lowbit::testing
