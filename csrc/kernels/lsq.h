#pragma once
// Fused LSQ / LSQ+ forward and backward (element-wise math in csrc/ops/lsq_math.h).
// `step` (and `offset`, when defined) hold one value per tensor or one per slice of x along
// `channel_dim`. The backward returns dL/dx and the unscaled sums of dL/ds and dL/dbeta
// (shaped like step; the offset gradient is undefined when offset is).

#include <ATen/core/Tensor.h>

#include <tuple>

namespace lowbit::kernels {

// x viewed as [outer, channels, inner]; channels = 1 for a per-tensor step.
struct ChannelLayout {
  int64_t outer, channels, inner;
  static ChannelLayout of(const at::Tensor& x, int64_t channel_dim, int64_t channels);
  // Channels along dim 1 in x's memory order: a channels-last 4-D x as [N H W, C, 1], any other
  // (contiguous) x as of(x, 1, channels).
  static ChannelLayout in_memory(const at::Tensor& x, int64_t channels);
};

struct LsqArgs {
  double qn, qp;
  int64_t channel_dim;
  bool sign = false;  // level function sign instead of round (csrc/ops/lsq_math.h)
};

at::Tensor lsq_forward(const at::Tensor& x, const at::Tensor& step, const at::Tensor& offset,
                       const LsqArgs& args);
std::tuple<at::Tensor, at::Tensor, at::Tensor> lsq_backward(const at::Tensor& grad, const at::Tensor& x,
                                                            const at::Tensor& step, const at::Tensor& offset,
                                                            const LsqArgs& args);

namespace cpu {
at::Tensor lsq_forward(const at::Tensor& x, const at::Tensor& step, const at::Tensor& offset,
                       const LsqArgs& args);
std::tuple<at::Tensor, at::Tensor, at::Tensor> lsq_backward(const at::Tensor& grad, const at::Tensor& x,
                                                            const at::Tensor& step, const at::Tensor& offset,
                                                            const LsqArgs& args);
}  // namespace cpu
namespace cuda {
at::Tensor lsq_forward(const at::Tensor& x, const at::Tensor& step, const at::Tensor& offset,
                       const LsqArgs& args);
std::tuple<at::Tensor, at::Tensor, at::Tensor> lsq_backward(const at::Tensor& grad, const at::Tensor& x,
                                                            const at::Tensor& step, const at::Tensor& offset,
                                                            const LsqArgs& args);
}  // namespace cuda

}  // namespace lowbit::kernels
