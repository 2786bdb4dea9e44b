#include "support/thread_replicas.h"

#include <torch/torch.h>

#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace lowbit::testing {
namespace {

// One collective at a time: every rank deposits its tensor, the last one computes the result,
// every rank copies it out; a generation counter separates consecutive collectives.
class Group {
 public:
  explicit Group(int64_t world) : world_(world), inputs_(world) {}

  void run(int64_t rank, at::Tensor& tensor, const std::function<at::Tensor(const std::vector<at::Tensor>&)>& combine) {
    std::unique_lock<std::mutex> lock(mutex_);
    const int64_t generation = generation_;
    inputs_[rank] = tensor.detach().clone();
    if (++arrived_ == world_) {
      result_ = combine(inputs_);
      arrived_ = 0;
      ++generation_;
      changed_.notify_all();
    } else {
      changed_.wait(lock, [&] { return generation_ != generation; });
    }
    tensor.detach().copy_(result_);
  }

  int64_t world() const { return world_; }

 private:
  int64_t world_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<at::Tensor> inputs_;
  at::Tensor result_;
  int64_t arrived_ = 0, generation_ = 0;
};

class ThreadReplicas : public hooks::Replicas {
 public:
  ThreadReplicas(Group& group, int64_t rank) : group_(group), rank_(rank) {}
  int64_t rank() const override { return rank_; }
  int64_t world_size() const override { return group_.world(); }
  void all_reduce(at::Tensor& tensor, hooks::ReduceOp op) override {
    group_.run(rank_, tensor, [op](const std::vector<at::Tensor>& in) {
      auto stacked = torch::stack(in);
      switch (op) {
        case hooks::ReduceOp::Sum: return stacked.sum(0);
        case hooks::ReduceOp::Mean: return stacked.sum(0) / static_cast<double>(in.size());
        case hooks::ReduceOp::Min: return std::get<0>(stacked.min(0));
        case hooks::ReduceOp::Max: return std::get<0>(stacked.max(0));
      }
      return at::Tensor();
    });
  }
  void broadcast(at::Tensor& tensor, int64_t root) override {
    group_.run(rank_, tensor, [root](const std::vector<at::Tensor>& in) { return in[root]; });
  }

 private:
  Group& group_;
  int64_t rank_;
};

}  // namespace

void run_replicas(int64_t world_size, const std::function<void(int64_t rank)>& body) {
  Group group(world_size);
  std::vector<std::exception_ptr> errors(world_size);
  std::vector<std::thread> threads;
  for (int64_t r = 0; r < world_size; ++r) {
    threads.emplace_back([&, r] {
      ThreadReplicas replicas(group, r);
      hooks::ReplicasScope scope(&replicas);
      try {
        body(r);
      } catch (...) {
        errors[r] = std::current_exception();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& e : errors) {
    if (e) std::rethrow_exception(e);
  }
}

}  // namespace lowbit::testing
