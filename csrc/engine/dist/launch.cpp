#include <lowbit/csrc/engine/dist/launch.h>

#include <lowbit/csrc/engine/dist/environment.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <algorithm>
#include <iostream>
#include <map>
#include <thread>

namespace lowbit::engine::dist {
namespace {

volatile sig_atomic_t forwarded_signal = 0;

void remember_signal(int signal) { forwarded_signal = signal; }

pid_t start_rank(const std::string& program, const std::vector<std::string>& args, int64_t rank, int64_t nproc,
                 int64_t port) {
  const pid_t pid = ::fork();
  if (pid < 0) throw SetupError(std::string("--nproc: cannot start a process: ") + std::strerror(errno));
  if (pid > 0) return pid;
  const auto set = [](const char* name, int64_t value) { ::setenv(name, std::to_string(value).c_str(), 1); };
  set("RANK", rank);
  set("LOCAL_RANK", rank);
  set("WORLD_SIZE", nproc);
  set("LOCAL_WORLD_SIZE", nproc);
  set("MASTER_PORT", port);
  ::setenv("MASTER_ADDR", "127.0.0.1", 1);
  // The machine's cores shared among the processes (as torchrun, which sets 1), unless chosen.
  const auto cores = static_cast<int64_t>(std::thread::hardware_concurrency());
  if (::getenv("OMP_NUM_THREADS") == nullptr) set("OMP_NUM_THREADS", std::max<int64_t>(1, cores / nproc));
  std::vector<char*> argv{const_cast<char*>(program.c_str())};
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  ::execv(program.c_str(), argv.data());
  std::cerr << "lowbit: --nproc: cannot run " << program << ": " << std::strerror(errno) << "\n";
  ::_exit(127);
}

int exit_status(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status); }

std::string describe(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  return std::string("was killed by signal ") + std::to_string(WTERMSIG(status)) + " (" + ::strsignal(WTERMSIG(status)) + ")";
}

void signal_all(const std::map<pid_t, int64_t>& running, int signal) {
  for (const auto& [pid, rank] : running) ::kill(pid, signal);
}

}  // namespace

int64_t free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw SetupError(std::string("--nproc: no socket for a free port: ") + std::strerror(errno));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0;
  ::close(fd);
  if (!ok) throw SetupError(std::string("--nproc: cannot find a free port: ") + std::strerror(errno));
  return ntohs(address.sin_port);
}

int launch_local(const std::string& program, const std::vector<std::string>& args, const LaunchOptions& options) {
  if (options.nproc < 1) throw SetupError("--nproc " + std::to_string(options.nproc) + ": expected at least 1");
  const auto port = options.master_port > 0 ? options.master_port : free_port();
  struct sigaction action{}, old_int{}, old_term{};
  action.sa_handler = remember_signal;
  ::sigaction(SIGINT, &action, &old_int);
  ::sigaction(SIGTERM, &action, &old_term);
  std::map<pid_t, int64_t> running;
  for (int64_t r = 0; r < options.nproc; ++r) running.emplace(start_rank(program, args, r, options.nproc, port), r);
  int result = 0;
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  while (!running.empty()) {
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid > 0 && running.count(pid)) {
      const auto rank = running.at(pid);
      running.erase(pid);
      if (status != 0 && result == 0) {
        result = exit_status(status);
        std::cerr << "lowbit: rank " << rank << " of " << options.nproc << " " << describe(status)
                  << (running.empty() ? "" : "; stopping the other processes") << "\n";
        deadline = std::chrono::steady_clock::now() + options.grace;
      }
      continue;
    }
    if (forwarded_signal != 0) {
      signal_all(running, forwarded_signal);
      if (result == 0) result = 128 + forwarded_signal;
      forwarded_signal = 0;
      deadline = std::min(deadline, std::chrono::steady_clock::now() + options.grace);
    }
    if (std::chrono::steady_clock::now() > deadline) {
      signal_all(running, SIGKILL);
      deadline = std::chrono::steady_clock::time_point::max();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ::sigaction(SIGINT, &old_int, nullptr);
  ::sigaction(SIGTERM, &old_term, nullptr);
  return result;
}

}  // namespace lowbit::engine::dist
