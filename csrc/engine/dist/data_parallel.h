#pragma once
// Data-parallel training of one model replica per process, as PyTorch's DistributedDataParallel
// does it, on c10d's own Reducer (the C++ engine under DDP, used here directly):
//   start:           parameters and buffers broadcast from rank 0 (every rank starts from rank 0's
//                    model; the models must agree in names, shapes and dtypes, else an error
//                    naming the first difference)
//   before forward:  buffers broadcast from rank 0 (broadcast_buffers: batch-norm running
//                    statistics as DDP keeps them, rank 0's), and the Reducer's bucket rebuild
//                    after the first step (gradient-ready order)
//   backward:        gradients all-reduced in buckets (first 1 MiB, then bucket_mb) while the
//                    backward runs, and divided by the world size: every rank ends the backward
//                    with the mean of the ranks' gradients. With find_unused_parameters, the
//                    parameters a step does not reach (RBONN's u in its first step) are marked
//                    ready; a parameter no rank used keeps no gradient, as in one process.
// With equal shares of every batch (data/ordered_batches.h Shard) and each rank's loss the mean
// over its share, the mean gradient is the one process's on the whole batch; what modules keep
// from the data is made global through hooks::Replicas (modules/hooks/replicas.h), batch-norm
// statistics too with sync_bn.

#include <lowbit/csrc/engine/dist/process_group.h>

#include <torch/nn/module.h>

#include <functional>
#include <memory>
#include <vector>

namespace c10d {
class Logger;
class Reducer;
}  // namespace c10d

namespace lowbit::engine::dist {

struct DataParallelOptions {
  bool broadcast_buffers = true;
  bool find_unused_parameters = true;
  double bucket_mb = 25;  // DDP's bucket_cap_mb
};

class DataParallel {
 public:
  // `parameters`: those trained (the model's and the task's), named for messages; `buffers`: the
  // model's. Broadcasts both from rank 0.
  DataParallel(ProcessGroup& group, const torch::OrderedDict<std::string, torch::Tensor>& parameters,
               std::vector<torch::Tensor> buffers, DataParallelOptions options);
  ~DataParallel();
  DataParallel(const DataParallel&) = delete;
  DataParallel& operator=(const DataParallel&) = delete;

  // Before a training forward (with gradients).
  void before_forward();
  // After the forward, before the backward of `loss`.
  void before_backward(const torch::Tensor& loss);
  // Runs `backward` (the loss's backward and the optimiser step), inside which the gradients are
  // all-reduced: a failure of that communication is a PeerError (ProcessGroup::guarded).
  void backward(const std::function<void()>& backward);

 private:
  void broadcast(const std::vector<torch::Tensor>& tensors);

  ProcessGroup& group_;
  std::vector<torch::Tensor> buffers_;
  DataParallelOptions options_;
  std::shared_ptr<c10d::Reducer> reducer_;
  std::shared_ptr<c10d::Logger> logger_;  // the Reducer expects one (DDP's), and reads it unchecked
};

}  // namespace lowbit::engine::dist
