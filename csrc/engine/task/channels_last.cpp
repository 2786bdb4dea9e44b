#include <lowbit/csrc/engine/task/channels_last.h>

#include <ATen/ATen.h>
#include <torch/csrc/autograd/grad_mode.h>

namespace lowbit::engine {
namespace {

void to_channels_last(at::Tensor& t) {
  if (!t.defined() || t.dim() != 4) return;
  t.set_data(t.data().contiguous(at::MemoryFormat::ChannelsLast));
  if (t.grad().defined()) t.mutable_grad() = t.grad().contiguous(at::MemoryFormat::ChannelsLast);
}

}  // namespace

void to_channels_last(torch::nn::Module& module) {
  const torch::NoGradGuard no_grad;
  for (auto& parameter : module.parameters()) to_channels_last(parameter);
  for (auto& buffer : module.buffers()) to_channels_last(buffer);
}

}  // namespace lowbit::engine
