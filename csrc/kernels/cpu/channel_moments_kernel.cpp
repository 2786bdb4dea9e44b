#include <lowbit/csrc/kernels/channel_moments.h>
#include <lowbit/csrc/kernels/cpu/channel_runs.h>
#include <lowbit/csrc/kernels/cpu/simd.h>

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>

#include <array>

namespace lowbit::kernels::cpu {
namespace {

template <typename T>
LOWBIT_CPU_CLONES std::array<double, 2> shifted_sums(const T* x, int64_t n, double shift) {
  return lane_sums<2>(n, [&](int64_t i) {
    const double d = static_cast<double>(x[i]) - shift;
    return std::array<double, 2>{d, d * d};
  });
}

}  // namespace

at::Tensor channel_moments(const at::Tensor& x) {
  const auto layout = ChannelLayout::in_memory(x, x.size(1));
  auto partial = at::zeros({blocks_of(layout), layout.channels, 2}, x.options().dtype(at::kDouble));
  auto shifts = at::empty({layout.channels}, x.options().dtype(at::kDouble));
  double* pp = partial.mutable_data_ptr<double>();
  double* shift = shifts.mutable_data_ptr<double>();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "channel_moments_cpu", [&] {
    const scalar_t* xp = x.const_data_ptr<scalar_t>();
    for (int64_t c = 0; c < layout.channels; ++c) shift[c] = layout.outer > 0 ? static_cast<double>(xp[c * layout.inner]) : 0.0;
    if (layout.inner == 1) {  // channels-last: runs of one element, taken as pieces of channel rows
      for_each_block(layout, [&](int64_t block) {
        for_each_row_piece_of_block(layout, block, [&](int64_t channel, int64_t first, int64_t last) {
          double* p = pp + (block * layout.channels + channel) * 2;
          for (int64_t i = first; i < last; ++i, p += 2) {
            const double d = static_cast<double>(xp[i]) - shift[channel + (i - first)];
            p[0] += d, p[1] += d * d;
          }
        });
      });
    } else {
      for_each_run(layout, [&](int64_t block, int64_t c, int64_t first, int64_t last) {
        const auto s = shifted_sums(xp + first, last - first, shift[c]);
        double* p = pp + (block * layout.channels + c) * 2;
        p[0] += s[0], p[1] += s[1];
      });
    }
  });
  const auto sums = partial.sum(0);  // [C, 2]
  const double count = static_cast<double>(layout.outer * layout.inner);
  const auto d = sums.select(1, 0), d2 = sums.select(1, 1);
  return at::stack({shifts + d / count, ((d2 - d * d / count) / count).clamp_min(0)});
}

}  // namespace lowbit::kernels::cpu
