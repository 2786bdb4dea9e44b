#pragma once
// Data-parallel training seen from a module: the model a thread trains may be one of several
// replicas (one per process, each on its share of the batch), whose gradients the engine averages
// (csrc/engine/dist). A module whose state comes from the data rather than from the gradient
// average must make that state global itself, or the replicas drift apart:
//   - lazy initialisations from the first batch (LSQ, Q-ViT's ActQ) reduce their statistics,
//   - state recorded from a backward's local gradient (RBONN's G_prev, ReBNN's m_c) is averaged
//     before it is used,
//   - batch normalisation with sync_batch_norm normalises with the statistics of the whole batch.
// With equal shares, the result is the one a single process gets on the whole batch.
//
//   if (auto* r = hooks::replicas()) r->all_reduce(stats, hooks::ReduceOp::Mean);
//
// The engine installs its process group with a ReplicasScope around training; every replica then
// calls the same collectives in the same order. The pointer is thread-local (so that a test may run
// replicas as threads); an autograd Function that communicates in its backward captures it at
// forward time. Alone (no scope), replicas() is null and every helper below is a no-op.

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace lowbit::hooks {

enum class ReduceOp { Sum, Mean, Min, Max };

class Replicas {
 public:
  virtual ~Replicas() = default;
  virtual int64_t rank() const = 0;
  virtual int64_t world_size() const = 0;
  // In place; afterwards `tensor` is the same on every replica. Blocks until done.
  virtual void all_reduce(at::Tensor& tensor, ReduceOp op) = 0;
  // In place, from replica `root`.
  virtual void broadcast(at::Tensor& tensor, int64_t root) = 0;

  // Batch normalisation layers (layers::BatchNorm) normalise with the statistics of the whole batch
  // over all replicas (SyncBatchNorm) instead of their own share's.
  bool sync_batch_norm = false;
};

// The replicas of the model the calling thread trains; null when it trains alone.
Replicas* replicas();

// Installs `replicas` for the calling thread while alive (nesting restores the previous one).
class ReplicasScope {
 public:
  explicit ReplicasScope(Replicas* replicas);
  ~ReplicasScope();
  ReplicasScope(const ReplicasScope&) = delete;
  ReplicasScope& operator=(const ReplicasScope&) = delete;

 private:
  Replicas* previous_;
};

// The number of elements `x` would have in a forward of the whole batch: numel · world_size for a
// replica's share of the batch (an activation), numel for a parameter (a leaf that requires a
// gradient: the same tensor on every replica). LSQ-style gradient scales 1/sqrt(N Qp) take it, so
// that the averaged step gradients equal the whole batch's; alone it is numel.
int64_t batch_numel(const at::Tensor& x);

// `tensor` reduced over the replicas in place; nothing alone.
void all_reduce_(at::Tensor& tensor, ReduceOp op);

// Every replica's `rows` concatenated along dim 0 in rank order (the other dims must agree; the
// row counts may differ), on every replica. Built on all_reduce: world_size times the data moves.
at::Tensor all_gather_rows(Replicas& replicas, const at::Tensor& rows);

}  // namespace lowbit::hooks
