// Data-parallel training through the real `lowbit train` (dist/): processes on the loopback with
// Gloo, started by --nproc or by hand with torchrun's variables.
#include <lowbit/csrc/engine/checkpoint/checkpoint.h>
#include <lowbit/csrc/engine/dist/data_parallel.h>
#include <lowbit/csrc/engine/dist/launch.h>
#include <lowbit/csrc/util/files.h>

#include "support/require_gpu.h"
#include "support/run_cli.h"
#include "support/spawn_cli.h"
#include "support/temp_dir.h"

#include <gtest/gtest.h>

#include <torch/torch.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

namespace {

using lowbit::testing::run_cli;
using lowbit::testing::TempDir;
using Clock = std::chrono::steady_clock;

const std::string kRecipes = LOWBIT_SOURCE_DIR "/tests/engine/recipes/dist/";

bool have_fashion_mnist() { return lowbit::util::is_directory("/usr/share/datasets/fashion-mnist"); }

#define REQUIRE_FASHION_MNIST() \
  if (!have_fashion_mnist()) GTEST_SKIP() << "Fashion-MNIST (Debian dataset-fashion-mnist) is not installed"

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The last eval record's top1 in a run's metrics.jsonl.
double last_top1(const std::string& run_dir) {
  const auto log = read_text(run_dir + "/metrics.jsonl");
  std::smatch m;
  double top1 = -1;
  for (auto it = log.cbegin(); std::regex_search(it, log.cend(), m, std::regex("\"kind\":\"eval\"[^\n]*\"top1\":([0-9.eE+-]+)"));
       it = m.suffix().first) {
    top1 = std::stod(m[1]);
  }
  return top1;
}

// Every parameter and buffer of two runs' final checkpoints agrees: |x - y| <= rtol max|x| + 1e-5.
// The two runs sum in different orders (the all-reduce, SyncBatchNorm's statistics), so they
// agree to float rounding after one step (about 1e-6 relative, measured); binary activations and
// weights (sign) and RBONN's argsort turn such differences into a few flipped signs, which grow with
// every step: the runs are kept to a few steps.
void expect_same_model(const std::string& a, const std::string& b, double rtol) {
  const auto one = lowbit::engine::read_checkpoint_model(a + "/checkpoint.pt");
  const auto two = lowbit::engine::read_checkpoint_model(b + "/checkpoint.pt");
  ASSERT_EQ(one.size(), two.size());
  int64_t compared = 0;
  for (const auto& item : one) {
    const auto& name = item.key();
    const auto& x = item.value();
    ASSERT_TRUE(two.contains(name)) << name;
    const auto& y = two[name];
    ASSERT_EQ(x.sizes(), y.sizes()) << name;
    if (!x.is_floating_point() || x.numel() == 0) {
      EXPECT_TRUE(x.equal(y)) << name;
      continue;
    }
    const double scale = x.abs().max().template item<double>();
    EXPECT_LE((x - y).abs().max().template item<double>(), rtol * scale + 1e-5) << name;
    ++compared;
  }
  EXPECT_GT(compared, 10);
}

// One process of batch 2B and two of B (--nproc 2) end `steps` steps with the same model and test
// accuracy over the whole test split.
void expect_two_processes_equal_one(const std::string& recipe, int64_t steps, double rtol) {
  TempDir dir;
  const auto limit = "data.limit_train=" + std::to_string(64 * steps);
  const auto one = run_cli({"train", kRecipes + recipe, "--set", "output=" + dir.file("one"), limit});
  ASSERT_EQ(one.status, 0) << one.output;
  const auto two =
      run_cli({"train", kRecipes + recipe, "--nproc", "2", "--set", "output=" + dir.file("two"), limit});
  ASSERT_EQ(two.status, 0) << two.output;
  EXPECT_NE(two.output.find("on 2 processes (gloo)"), std::string::npos) << two.output;
  std::smatch name;
  ASSERT_TRUE(std::regex_search(one.output, name, std::regex("training (\\S+) in")));
  const auto run_one = dir.file("one/" + name[1].str()), run_two = dir.file("two/" + name[1].str());
  expect_same_model(run_one, run_two, rtol);
  // The whole test split, every image once, on both.
  EXPECT_NE(two.output.find("(1000 images)"), std::string::npos) << two.output;
  ASSERT_GE(last_top1(run_one), 0) << "no eval record in " << run_one;
  EXPECT_NEAR(last_top1(run_one), last_top1(run_two), 1e-9);
}

// Two steps: RBONN's recorded gradient (previous_grad) is the state most sensitive to flipped signs;
// at three steps it differed by 8e-5 (the bound is 6e-5) once the fused bilinear kernel summed the
// scale gradient in double, the rounding of the two runs having moved, not their agreement.
TEST(DataParallel, TwoProcessesEqualOneWithTheirWholeBatchRbonnResNet) {
  REQUIRE_FASHION_MNIST();
  expect_two_processes_equal_one("rbonn_resnet.yaml", 2, 1e-3);
}

TEST(DataParallel, TwoProcessesEqualOneWithTheirWholeBatchQvitLazyInit) {
  REQUIRE_FASHION_MNIST();
  expect_two_processes_equal_one("qvit.yaml", 10, 1e-3);
}

// A rank of a torchrun-style run, started by hand; its output goes to `log`.
pid_t start_rank(int rank, int world, int64_t port, const std::vector<std::string>& args, const std::string& log) {
  return lowbit::testing::spawn_cli(args, log,
                                    {{"RANK", std::to_string(rank)}, {"WORLD_SIZE", std::to_string(world)},
                                     {"MASTER_ADDR", "127.0.0.1"}, {"MASTER_PORT", std::to_string(port)}});
}

// The child's exit status, or -1 if it is still running after `limit`.
int wait_exit(pid_t pid, std::chrono::seconds limit) {
  const auto deadline = Clock::now() + limit;
  while (Clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return -1;
}

TEST(DataParallel, KillingOneRankStopsTheOtherWithAClearErrorAndTheRunResumes) {
  REQUIRE_FASHION_MNIST();
  TempDir dir;
  const auto port = lowbit::engine::dist::free_port();
  const std::vector<std::string> args{"train", kRecipes + "rbonn_resnet.yaml", "--set", "output=" + dir.path(),
                                      "data.limit_train=6400", "train.checkpoint_every=5"};
  const pid_t rank0 = start_rank(0, 2, port, args, dir.file("rank0.log"));
  const pid_t rank1 = start_rank(1, 2, port, args, dir.file("rank1.log"));
  const auto checkpoint = dir.file("dist_rbonn_resnet/checkpoint.pt");
  const auto deadline = Clock::now() + std::chrono::seconds(120);
  while (!lowbit::util::file_exists(checkpoint) && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(lowbit::util::file_exists(checkpoint)) << read_text(dir.file("rank0.log"));
  kill(rank1, SIGKILL);
  const auto killed = Clock::now();
  const int status = wait_exit(rank0, std::chrono::seconds(60));
  const auto seconds = std::chrono::duration<double>(Clock::now() - killed).count();
  waitpid(rank1, nullptr, 0);
  const auto log = read_text(dir.file("rank0.log"));
  if (status == -1) kill(rank0, SIGKILL);
  ASSERT_NE(status, -1) << "rank 0 still runs 60 s after rank 1 was killed:\n" << log;
  EXPECT_EQ(status, 1) << log;
  EXPECT_NE(log.find("lowbit: error: rank 0 of 2:"), std::string::npos) << log;
  EXPECT_NE(log.find("another process stopped or did not answer in time"), std::string::npos) << log;
  EXPECT_NE(log.find("lowbit train --resume"), std::string::npos) << log;
  EXPECT_LT(seconds, 30.0) << log;
  // The checkpoint is whole, and the run continues from it, here on one process.
  const auto position = lowbit::engine::read_position(checkpoint);
  EXPECT_GT(position.step, 0);
  const auto resumed = run_cli({"train", "--resume", dir.file("dist_rbonn_resnet")});
  ASSERT_EQ(resumed.status, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("resumed"), std::string::npos) << resumed.output;
  EXPECT_EQ(lowbit::engine::read_position(checkpoint).epoch, 1);
}

// A rank killed in the middle of a step reaches the survivor's backward as c10d's DistError or as
// the transport's own exception (gloo's "Read error ... Connection reset by peer", a
// std::runtime_error), depending on where the survivor was: both are the peer's failure. Here on a
// group of one process, the exceptions thrown by hand.
TEST(DataParallel, ACommunicationFailureInTheBackwardIsAPeerErrorAndOtherErrorsPass) {
  namespace dist = lowbit::engine::dist;
  dist::Environment env;
  env.source = "torchrun";
  env.master_port = dist::free_port();
  dist::ProcessGroup group(env, torch::kCPU, {});
  torch::OrderedDict<std::string, torch::Tensor> parameters;
  parameters.insert("w", torch::ones({3}, torch::requires_grad()));
  dist::DataParallel data_parallel(group, parameters, {}, {});
  const auto message_of = [&](const std::function<void()>& backward) -> std::string {
    try {
      data_parallel.backward(backward);
    } catch (const dist::PeerError& e) {
      return "PeerError: " + e.msg();
    } catch (const c10::Error& e) {
      return "c10::Error: " + e.msg();
    }
    return "nothing thrown";
  };
  const auto transport = message_of([] { throw std::runtime_error("[gloo/transport/tcp/pair.cc:538] Read error"); });
  EXPECT_EQ(transport.rfind("PeerError: rank 0 of 1: the gradients' all-reduce failed: another process stopped", 0), 0u)
      << transport;
  EXPECT_NE(transport.find("pair.cc:538] Read error)"), std::string::npos) << transport;
  const auto timeout = message_of([] { C10_THROW_ERROR(DistError, "Timed out"); });
  EXPECT_EQ(timeout.rfind("PeerError: rank 0 of 1:", 0), 0u) << timeout;
  EXPECT_NE(timeout.find("(Timed out"), std::string::npos) << timeout;
  const auto check = message_of([] { TORCH_CHECK(false, "a shape check"); });
  EXPECT_EQ(check.rfind("c10::Error: a shape check", 0), 0u) << check;
  EXPECT_EQ(message_of([] {}), "nothing thrown");
}

TEST(DataParallel, APortInUseIsAClearErrorOfRankZero) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  ASSERT_EQ(listen(fd, 1), 0);
  socklen_t length = sizeof(address);
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  const auto port = ntohs(address.sin_port);
  TempDir dir;
  const pid_t rank0 = start_rank(0, 2, port, {"train", "--set", "output=" + dir.path(), "distributed.timeout_s=20"},
                                 dir.file("rank0.log"));
  const int status = wait_exit(rank0, std::chrono::seconds(60));
  close(fd);
  const auto log = read_text(dir.file("rank0.log"));
  if (status == -1) kill(rank0, SIGKILL);
  EXPECT_EQ(status, 2) << log;
  EXPECT_NE(log.find("rank 0 cannot serve the rendezvous on port " + std::to_string(port)), std::string::npos) << log;
  EXPECT_NE(log.find("MASTER_PORT"), std::string::npos) << log;
  EXPECT_FALSE(lowbit::util::is_directory(dir.file("fashion_mnist_bnn"))) << "a run folder was left behind";
}

// `device: cuda:0` in a run of two processes on one machine would put both on GPU 0 (NCCL refuses
// that): the recipe's key is named instead. Needs a GPU (without one the device is refused earlier).
TEST(DataParallel, CudaAnExplicitGpuForSeveralProcessesIsNamed) {
  REQUIRE_GPU();
  REQUIRE_FASHION_MNIST();
  TempDir dir;
  const pid_t rank0 = lowbit::testing::spawn_cli(
      {"train", "--set", "output=" + dir.path(), "device=cuda:0"}, dir.file("rank0.log"),
      {{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"LOCAL_RANK", "0"}, {"LOCAL_WORLD_SIZE", "2"}, {"MASTER_ADDR", "127.0.0.1"},
       {"MASTER_PORT", std::to_string(lowbit::engine::dist::free_port())}});
  const int status = wait_exit(rank0, std::chrono::seconds(60));
  const auto log = read_text(dir.file("rank0.log"));
  if (status == -1) kill(rank0, SIGKILL);
  EXPECT_EQ(status, 2) << log;
  EXPECT_NE(log.find("device: 'cuda:0' would put all 2 processes of this machine on one GPU"), std::string::npos) << log;
}

TEST(DataParallel, AnUnreachableMasterIsAClearErrorWithinTheTimeout) {
  TempDir dir;
  const auto port = lowbit::engine::dist::free_port();  // nobody serves it
  const auto started = Clock::now();
  const pid_t rank1 = start_rank(1, 2, port, {"train", "--set", "output=" + dir.path(), "distributed.timeout_s=3"},
                                 dir.file("rank1.log"));
  const int status = wait_exit(rank1, std::chrono::seconds(60));
  const auto seconds = std::chrono::duration<double>(Clock::now() - started).count();
  const auto log = read_text(dir.file("rank1.log"));
  if (status == -1) kill(rank1, SIGKILL);
  EXPECT_EQ(status, 2) << log;
  EXPECT_NE(log.find("rank 1 could not reach the master at 127.0.0.1:" + std::to_string(port) + " within 3 s"),
            std::string::npos)
      << log;
  EXPECT_LT(seconds, 30.0);
}

}  // namespace

namespace {

// The default recipe (binary small CNN, Fashion-MNIST) shortened to two epochs on half the
// training set: two processes (DDP's default batch norm, each normalising its own half) reach the
// accuracy of one within 0.5 %.
TEST(DataParallelTraining, TwoProcessesReachTheAccuracyOfOneOnFashionMnist) {
  REQUIRE_FASHION_MNIST();
  TempDir dir;
  auto args = [](const std::string& out) {
    return std::vector<std::string>{"train", "--set", "output=" + out, "stages[0].epochs=2", "data.limit_train=30000"};
  };
  const auto one = run_cli(args(dir.file("one")));
  ASSERT_EQ(one.status, 0) << one.output;
  auto two_args = args(dir.file("two"));
  two_args.insert(two_args.begin() + 1, {"--nproc", "2"});
  const auto two = run_cli(two_args);
  ASSERT_EQ(two.status, 0) << two.output;
  const auto top1_one = last_top1(dir.file("one/fashion_mnist_bnn")), top1_two = last_top1(dir.file("two/fashion_mnist_bnn"));
  std::cout << "top1: one process " << top1_one << " %, two processes " << top1_two << " %\n";
  EXPECT_GT(top1_one, 80.0);
  EXPECT_NEAR(top1_two, top1_one, 0.5);
}

}  // namespace
