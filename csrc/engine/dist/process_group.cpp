#include <lowbit/csrc/engine/dist/process_group.h>

#include <lowbit/csrc/engine/dist/backends.h>

#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <ATen/ATen.h>

namespace lowbit::engine::dist {
namespace {

std::string seconds(std::chrono::milliseconds t) { return std::to_string(t.count() / 1000) + " s"; }

std::string endpoint(const Environment& env) { return env.master_addr + ":" + std::to_string(env.master_port); }

// Rank 0 serves the store; the others connect to it, retrying until the timeout.
c10::intrusive_ptr<c10d::Store> open_store(const Environment& env, std::chrono::milliseconds timeout) {
  c10d::TCPStoreOptions o;
  o.port = static_cast<std::uint16_t>(env.master_port);
  o.isServer = env.rank == 0;
  o.numWorkers = static_cast<std::size_t>(env.world_size);
  o.waitWorkers = false;  // the backend's rendezvous waits for everyone, with its own message
  o.timeout = timeout;
  try {
    return c10::make_intrusive<c10d::TCPStore>(env.master_addr, o);
  } catch (const std::exception& e) {
    if (env.rank == 0) {
      throw SetupError("rank 0 cannot serve the rendezvous on port " + std::to_string(env.master_port) +
                       " (is another run using it? choose a free one with MASTER_PORT or --master-port): " +
                       c10::GetExceptionString(e));
    }
    throw SetupError("rank " + std::to_string(env.rank) + " could not reach the master at " + endpoint(env) +
                     " within " + seconds(timeout) + " (is rank 0 running, and are MASTER_ADDR and MASTER_PORT the "
                     "ones it uses?): " + c10::GetExceptionString(e));
  }
}

std::string backend_for(const std::string& asked, const c10::Device& device) {
  const auto backend = asked == "auto" ? (device.is_cuda() ? "nccl" : "gloo") : asked;
  if (backend == "nccl" && !device.is_cuda()) {
    throw SetupError("distributed.backend nccl needs device: cuda (NCCL reduces CUDA tensors only); use gloo on CPU");
  }
  return backend;
}

c10d::ReduceOp c10d_op(hooks::ReduceOp op) {
  switch (op) {
    case hooks::ReduceOp::Min: return c10d::ReduceOp::MIN;
    case hooks::ReduceOp::Max: return c10d::ReduceOp::MAX;
    default: return c10d::ReduceOp::SUM;  // Mean: the sum, divided afterwards (Gloo has no AVG)
  }
}

}  // namespace

PeerError::PeerError(int64_t rank, int64_t world_size, const std::string& what)
    : c10::Error({__func__, __FILE__, static_cast<uint32_t>(__LINE__)},
                 "rank " + std::to_string(rank) + " of " + std::to_string(world_size) + ": " + what) {}

ProcessGroup::ProcessGroup(const Environment& env, const c10::Device& device, const GroupOptions& options)
    : env_(env), backend_(backend_for(options.backend, device)), device_(device) {
  store_ = open_store(env_, options.timeout);
  c10::intrusive_ptr<c10d::Backend> backend;
  try {
    backend = backend_ == "nccl" ? make_nccl(store_, env_, options.timeout) : make_gloo(store_, env_, options.timeout);
  } catch (const SetupError&) {
    throw;
  } catch (const std::exception& e) {
    throw SetupError("rank " + std::to_string(env_.rank) + " of " + std::to_string(env_.world_size) +
                     ": the processes did not all join the " + backend_ + " group at " + endpoint(env_) + " within " +
                     seconds(options.timeout) + ": " + c10::GetExceptionString(e));
  }
  group_ = c10::make_intrusive<c10d::ProcessGroup>(store_, static_cast<int>(env_.rank), static_cast<int>(env_.world_size));
  const auto type = backend_ == "nccl" ? c10d::ProcessGroup::BackendType::NCCL : c10d::ProcessGroup::BackendType::GLOO;
  // Gloo serves CPU tensors (the metrics' counts, barriers) also when the model is on a GPU, and
  // CUDA tensors then too; NCCL serves CUDA tensors only (sendable() moves the others to the GPU).
  if (type == c10d::ProcessGroup::BackendType::GLOO) group_->setBackend(c10::DeviceType::CPU, type, backend);
  if (device.is_cuda()) group_->setBackend(c10::DeviceType::CUDA, type, backend);
  group_->setDefaultBackend(type);
}

ProcessGroup::~ProcessGroup() = default;

void ProcessGroup::guarded(const std::string& what, const std::function<void()>& call) const {
  const auto failed = [&](const std::string& detail) {
    return PeerError(env_.rank, env_.world_size,
                     what + " failed: another process stopped or did not answer in time (" + detail + ")");
  };
  try {
    call();
  } catch (const PeerError&) {
    throw;
  } catch (const c10::DistError& e) {
    throw failed(e.msg());
  } catch (const c10::Error&) {
    throw;
  } catch (const std::exception& e) {
    throw failed(e.what());
  }
}

// What the backend reduces: `tensor` itself when it can, else a contiguous copy (on the GPU for
// NCCL, which reduces CUDA tensors only; metrics keep host counts).
at::Tensor ProcessGroup::sendable(const at::Tensor& tensor) const {
  if (backend_ == "nccl" && !tensor.is_cuda()) return tensor.to(device_);
  return tensor.is_contiguous() ? tensor : tensor.contiguous();
}

void ProcessGroup::all_reduce(at::Tensor& tensor, hooks::ReduceOp op) {
  TORCH_CHECK(op != hooks::ReduceOp::Mean || at::isFloatingType(tensor.scalar_type()),
              "all_reduce: Mean needs a floating-point tensor, got ", tensor.scalar_type());
  std::vector<at::Tensor> tensors{sendable(tensor)};
  c10d::AllreduceOptions o;
  o.reduceOp = c10d_op(op);
  guarded("all_reduce", [&] { group_->allreduce(tensors, o)->wait(); });
  if (op == hooks::ReduceOp::Mean) tensors[0].div_(static_cast<double>(env_.world_size));
  if (!tensor.is_same(tensors[0])) tensor.copy_(tensors[0]);
}

void ProcessGroup::broadcast(at::Tensor& tensor, int64_t root) {
  std::vector<at::Tensor> tensors{sendable(tensor)};
  c10d::BroadcastOptions o;
  o.rootRank = root;
  guarded("broadcast", [&] { group_->broadcast(tensors, o)->wait(); });
  if (!tensor.is_same(tensors[0])) tensor.copy_(tensors[0]);
}

void ProcessGroup::barrier() {
  guarded("barrier", [&] { group_->barrier()->wait(); });
}

std::string ProcessGroup::share(const std::string& key, const std::string& value) {
  std::string shared;
  guarded("sharing the run's settings", [&] {
    if (env_.rank == 0) {
      store_->set("lowbit/" + key, std::vector<uint8_t>(value.begin(), value.end()));
      shared = value;
    } else {
      const auto bytes = store_->get("lowbit/" + key);
      shared.assign(bytes.begin(), bytes.end());
    }
  });
  return shared;
}

}  // namespace lowbit::engine::dist
