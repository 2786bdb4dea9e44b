#include <lowbit/config.h>
#include <lowbit/csrc/engine/datasets/device_prefetch.h>

#include <ATen/ATen.h>

#ifdef LOWBIT_WITH_CUDA
#include <c10/cuda/CUDAEvent.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

#include <exception>
#include <utility>

namespace lowbit::engine {
namespace {

// Calls fn(tensor) on every defined tensor of `batch`: images, labels, soft labels, each target's, meta's.
template <typename Fn>
void for_each_tensor(Batch& batch, const Fn& fn) {
  const auto visit = [&](at::Tensor& t) {
    if (t.defined()) fn(t);
  };
  visit(batch.images);
  visit(batch.labels);
  visit(batch.soft_labels);
  for (auto& target : batch.targets) {
    for (auto& [name, t] : target) visit(t);
  }
  for (auto& [name, t] : batch.meta) visit(t);
}

at::Tensor laid_out(const at::Tensor& images, const PrefetchOptions& options) {
  if (!options.channels_last() || !images.defined() || images.dim() != 4) return images;
  return images.contiguous(at::MemoryFormat::ChannelsLast);
}

// Each batch copied on the caller's stream when it is read (nothing on the CPU), then laid out.
class CopyingReader : public EpochReader {
 public:
  CopyingReader(std::unique_ptr<EpochReader> reader, const c10::Device& device, PrefetchOptions options)
      : reader_(std::move(reader)), device_(device), options_(options) {}

  bool next(Batch& batch) override {
    if (!reader_->next(batch)) return false;
    batch = batch.to(device_);
    batch.images = laid_out(batch.images, options_);
    return true;
  }

 private:
  std::unique_ptr<EpochReader> reader_;
  c10::Device device_;
  PrefetchOptions options_;
};

#ifdef LOWBIT_WITH_CUDA

// One batch ahead on a side stream (device_prefetch.h).
class CudaPrefetcher : public EpochReader {
 public:
  CudaPrefetcher(std::unique_ptr<EpochReader> reader, c10::DeviceIndex index, PrefetchOptions options)
      : reader_(std::move(reader)),
        device_(c10::kCUDA, index),
        options_(options),
        copies_(c10::cuda::getStreamFromPool(/*isHighPriority=*/false, index)) {}

  bool next(Batch& batch) override {
    if (!started_) {
      started_ = true;
      preload();
    }
    if (error_) {
      // The wrapped reader's next() threw for this batch: so does ours, and the epoch goes on.
      const auto error = std::exchange(error_, nullptr);
      preload();
      std::rethrow_exception(error);
    }
    if (!has_next_) return false;
    hand_over(batch);
    preload();
    return true;
  }

 private:
  // Reads the wrapped reader's next batch and queues its copy on the side stream.
  void preload() {
    Batch host;
    try {
      has_next_ = reader_->next(host);
    } catch (...) {
      has_next_ = false;
      error_ = std::current_exception();
      return;
    }
    if (!has_next_) return;
    const auto consumer = c10::cuda::getCurrentCUDAStream(device_.index());
    const c10::cuda::CUDAStreamGuard on_copies(copies_);
    wait_for_producers(host, consumer);
    next_ = std::move(host);
    // From pageable memory a non_blocking copy would still be synchronous (staged by the driver).
    for_each_tensor(next_, [&](at::Tensor& t) { t = (t.is_cpu() ? t.pin_memory() : t).to(device_, /*non_blocking=*/true); });
    next_.images = laid_out(next_.images, options_);
    copied_.record(copies_);
  }

  // A reader may deliver tensors already on a GPU, written by kernels on the consumer's stream:
  // the side stream reads them (the layout change) only after those kernels, and their memory is
  // not reused until it has (they were allocated on the consumer's stream; the batch drops them).
  void wait_for_producers(Batch& host, const c10::cuda::CUDAStream& consumer) {
    bool on_gpu = false;
    for_each_tensor(host, [&](at::Tensor& t) {
      if (!t.is_cuda()) return;
      on_gpu = true;
      t.record_stream(copies_.unwrap());
    });
    if (!on_gpu) return;
    c10::cuda::CUDAEvent produced;
    produced.record(consumer);
    produced.block(copies_);
  }

  // The prefetched batch, usable on the consumer's current stream.
  void hand_over(Batch& batch) {
    const auto consumer = c10::cuda::getCurrentCUDAStream(device_.index());
    copied_.block(consumer);
    // The memory was allocated on the side stream: without this, once the consumer drops a tensor
    // the allocator could hand the block to the next copy while the consumer's kernels still read it.
    for_each_tensor(next_, [&](at::Tensor& t) {
      if (t.is_cuda()) t.record_stream(consumer.unwrap());
    });
    batch = std::move(next_);
    next_ = Batch();
  }

  std::unique_ptr<EpochReader> reader_;
  c10::Device device_;
  PrefetchOptions options_;
  c10::cuda::CUDAStream copies_;
  c10::cuda::CUDAEvent copied_;  // recorded on copies_ after next_'s last copy
  Batch next_;
  bool started_ = false, has_next_ = false;
  std::exception_ptr error_;
};

#endif  // LOWBIT_WITH_CUDA

}  // namespace

std::unique_ptr<EpochReader> prefetch_to_device(std::unique_ptr<EpochReader> reader, const c10::Device& device,
                                                PrefetchOptions options) {
  TORCH_CHECK_VALUE(reader != nullptr, "prefetch_to_device: the reader is null");
  if (device.is_cpu() && !options.channels_last()) return reader;
#ifdef LOWBIT_WITH_CUDA
  if (device.is_cuda()) {
    TORCH_CHECK(c10::cuda::device_count() > 0, "prefetch_to_device: no CUDA device for ", device);
    const auto index = device.has_index() ? device.index() : c10::cuda::current_device();
    return std::make_unique<CudaPrefetcher>(std::move(reader), index, options);
  }
#endif
  return std::make_unique<CopyingReader>(std::move(reader), device, options);
}

}  // namespace lowbit::engine
