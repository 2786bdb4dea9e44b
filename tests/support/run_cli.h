#pragma once
// Runs the lowbit executable (LOWBIT_CLI_PATH) with `args` (each quoted for the shell) and
// returns its exit status and what it printed (stdout and stderr together).

#include <cstdio>
#include <string>
#include <sys/wait.h>
#include <vector>

namespace lowbit::testing {

struct CliResult {
  int status = -1;
  std::string output;
};

inline CliResult run_cli(const std::vector<std::string>& args) {
  std::string command = LOWBIT_CLI_PATH;
  for (const auto& a : args) command += " '" + a + "'";
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  CliResult result;
  char buffer[4096];
  for (size_t n; (n = fread(buffer, 1, sizeof(buffer), pipe)) > 0;) result.output.append(buffer, n);
  result.status = WEXITSTATUS(pclose(pipe));
  return result;
}

}  // namespace lowbit::testing
