#pragma once
// The process group of a data-parallel run: c10d's TCPStore (served by rank 0 at MASTER_ADDR:
// MASTER_PORT) for the rendezvous, and its Gloo (CPU) or NCCL (CUDA) backend for the
// collectives, as torch.distributed.init_process_group sets them up. It is the hooks::Replicas of
// the modules (modules/hooks/replicas.h), so that quantizers and batch normalisation reach it.
//
// Errors: a port in use, a master that cannot be reached within the timeout, a backend this build
// lacks are SetupErrors (exit status 2) saying what to change; a collective whose peer died or
// timed out throws PeerError naming this rank and what failed.

#include <lowbit/csrc/engine/dist/environment.h>
#include <lowbit/modules/hooks/replicas.h>

#include <c10/core/Device.h>
#include <c10/util/intrusive_ptr.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>

namespace c10d {
class ProcessGroup;
class Store;
}  // namespace c10d

namespace lowbit::engine::dist {

// A collective failed: another process stopped, or did not answer within the timeout.
class PeerError : public c10::Error {
 public:
  PeerError(int64_t rank, int64_t world_size, const std::string& what);
};

struct GroupOptions {
  std::string backend = "auto";             // auto: nccl for a CUDA device, gloo otherwise
  std::chrono::milliseconds timeout{600000};  // rendezvous and every collective
};

class ProcessGroup : public hooks::Replicas {
 public:
  // Joins the group of `env` (blocks until every rank has joined or the timeout passes). `device`:
  // where this process's tensors are (its CUDA device for nccl).
  ProcessGroup(const Environment& env, const c10::Device& device, const GroupOptions& options);
  ~ProcessGroup() override;

  int64_t rank() const override { return env_.rank; }
  int64_t world_size() const override { return env_.world_size; }
  const Environment& environment() const { return env_; }
  const std::string& backend() const { return backend_; }
  // Any tensor, on the host or this process's device.
  void all_reduce(at::Tensor& tensor, hooks::ReduceOp op) override;
  void broadcast(at::Tensor& tensor, int64_t root) override;
  void barrier();

  // A string from rank 0 (its `value`; the others' is ignored), through the store.
  std::string share(const std::string& key, const std::string& value);

  const c10::intrusive_ptr<c10d::ProcessGroup>& group() const { return group_; }

  // Runs `call`, which communicates with the other ranks. A failure of that communication is a
  // PeerError "rank R of W: WHAT failed: another process stopped or did not answer in time
  // (DETAIL)": c10d's DistError (a timeout, a store connection lost), or the transport's own
  // exception as it was thrown (gloo's IoException, "Read error ... Connection reset by peer", is a
  // std::runtime_error, not a c10::Error). Other c10 errors (a failed check, out of memory) pass.
  void guarded(const std::string& what, const std::function<void()>& call) const;

 private:
  at::Tensor sendable(const at::Tensor& tensor) const;

  Environment env_;
  std::string backend_;
  c10::Device device_;
  c10::intrusive_ptr<c10d::Store> store_;
  c10::intrusive_ptr<c10d::ProcessGroup> group_;
};

}  // namespace lowbit::engine::dist
