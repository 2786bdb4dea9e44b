#pragma once
// Batches delivered already on the training device: the next batch is copied while the model
// computes on the current one (the scheme of NVIDIA apex's data_prefetcher and of PyTorch's
// DataLoader(pin_memory=True) + .cuda(non_blocking=True)).
//
// CUDA: the wrapped reader's batch is put in pinned host memory (Tensor::pin_memory, PyTorch's
// caching host allocator: the block is reused only once the copy reading it has finished) and
// copied with non_blocking on a side stream of the device, one batch ahead. When next() hands a
// batch over, the consumer's current stream waits for the copy (an event; the host does not wait)
// and every tensor is recorded on the consumer's stream (Tensor::record_stream), so that the
// caching allocator does not give its memory to the side stream's next copy while the consumer's
// kernels may still read it. Errors of the wrapped reader come out of the next() that would have
// returned their batch, as without the wrapper.
//
//   auto reader = prefetch_to_device(source.epoch(epoch, 0), device, PrefetchOptions().channels_last(true));
//   Batch batch;
//   while (reader->next(batch)) step(batch);  // batch's tensors on `device`
//
// CPU: the reader is returned as it is (no copies), unless channels_last asks for a layout.
// Other devices: each batch is copied with Batch::to, nothing overlapped. A build without CUDA
// (LOWBIT_WITH_CUDA undefined) treats CUDA as an other device.

#include <lowbit/csrc/engine/datasets/dataset.h>

#include <c10/core/Device.h>
#include <torch/arg.h>

#include <memory>

namespace lowbit::engine {

struct PrefetchOptions {
  // 4-D images ([B, C, H, W]) delivered in channels_last (NHWC) memory format, converted on the
  // device. cuDNN's tensor-core convolutions work in NHWC: with an NCHW input (or parameters, see
  // task/channels_last.h) every convolution transposes first. Other tensors keep their layout.
  TORCH_ARG(bool, channels_last) = false;
};

std::unique_ptr<EpochReader> prefetch_to_device(std::unique_ptr<EpochReader> reader, const c10::Device& device,
                                                PrefetchOptions options = {});

}  // namespace lowbit::engine
