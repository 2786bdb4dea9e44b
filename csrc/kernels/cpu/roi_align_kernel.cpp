#include <lowbit/csrc/kernels/roi_align.h>
#include <lowbit/csrc/ops/roi_align_math.h>

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>

#include <vector>

namespace lowbit::kernels::cpu {
namespace {

// Every sample of one RoI, bin by bin (pooled_h x pooled_w bins of grid_h x grid_w samples), as
// torchvision's pre_calc: computed once, used for every channel.
template <typename Acc>
struct RoISamples {
  int64_t batch;
  ops::RoIGeometry<Acc> geometry;
  std::vector<ops::BilinearSample<Acc>> samples;

  // The samples of bin `bin` (bins in row-major order).
  const ops::BilinearSample<Acc>* bin_begin(int64_t bin) const {
    return samples.data() + bin * geometry.grid_h * geometry.grid_w;
  }
  const ops::BilinearSample<Acc>* bin_end(int64_t bin) const { return bin_begin(bin + 1); }
};

template <typename T>
RoISamples<at::opmath_type<T>> samples_of(const T* roi, const RoIAlignArgs& a, int64_t height, int64_t width) {
  using acc_t = at::opmath_type<T>;
  RoISamples<acc_t> r;
  r.batch = static_cast<int64_t>(roi[0]);
  r.geometry = ops::roi_geometry<acc_t>(roi[1], roi[2], roi[3], roi[4], static_cast<acc_t>(a.spatial_scale),
                                        a.pooled_h, a.pooled_w, a.sampling_ratio, a.aligned);
  const auto& g = r.geometry;
  r.samples.reserve(static_cast<size_t>(a.pooled_h * a.pooled_w * g.grid_h * g.grid_w));
  for (int64_t ph = 0; ph < a.pooled_h; ++ph) {
    for (int64_t pw = 0; pw < a.pooled_w; ++pw) {
      ops::for_each_bin_sample(g, ph, pw, height, width,
                               [&](const ops::BilinearSample<acc_t>& b) { r.samples.push_back(b); });
    }
  }
  return r;
}

}  // namespace

at::Tensor roi_align_forward(const at::Tensor& input, const at::Tensor& rois, const RoIAlignArgs& a) {
  const int64_t channels = input.size(1), height = input.size(2), width = input.size(3), count = rois.size(0);
  auto out = at::empty({count, channels, a.pooled_h, a.pooled_w}, input.options());
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(), "roi_align_forward_cpu", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const scalar_t* in = input.const_data_ptr<scalar_t>();
    const scalar_t* rp = rois.const_data_ptr<scalar_t>();
    scalar_t* op = out.mutable_data_ptr<scalar_t>();
    const int64_t plane = height * width, bins = a.pooled_h * a.pooled_w;
    at::parallel_for(0, count, 1, [&](int64_t begin, int64_t end) {
      for (int64_t k = begin; k < end; ++k) {
        const auto r = samples_of(rp + k * 5, a, height, width);
        for (int64_t c = 0; c < channels; ++c) {
          const scalar_t* x = in + (r.batch * channels + c) * plane;
          scalar_t* o = op + (k * channels + c) * bins;
          for (int64_t bin = 0; bin < bins; ++bin) {
            acc_t sum = 0;
            for (const auto* b = r.bin_begin(bin); b != r.bin_end(bin); ++b) {
              sum += b->weight[0] * acc_t(x[b->index[0]]) + b->weight[1] * acc_t(x[b->index[1]]) +
                     b->weight[2] * acc_t(x[b->index[2]]) + b->weight[3] * acc_t(x[b->index[3]]);
            }
            o[bin] = static_cast<scalar_t>(sum / r.geometry.count);
          }
        }
      }
    });
  });
  return out;
}

at::Tensor roi_align_backward(const at::Tensor& grad, const at::Tensor& rois, at::IntArrayRef input_sizes,
                              const RoIAlignArgs& a) {
  const int64_t channels = input_sizes[1], height = input_sizes[2], width = input_sizes[3], count = rois.size(0);
  // Accumulated in the op-math type (float for half inputs), then cast.
  const auto acc_type = at::toOpMathType(grad.scalar_type());
  auto grad_input = at::zeros(input_sizes, grad.options().dtype(acc_type));
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, grad.scalar_type(), "roi_align_backward_cpu", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const scalar_t* gp = grad.const_data_ptr<scalar_t>();
    const scalar_t* rp = rois.const_data_ptr<scalar_t>();
    acc_t* gi = grad_input.mutable_data_ptr<acc_t>();
    const int64_t plane = height * width, bins = a.pooled_h * a.pooled_w;
    // Each thread owns a range of channels and visits every RoI in order: no two threads add into
    // one element, and each element's sum has one order whatever the thread count.
    at::parallel_for(0, channels, 1, [&](int64_t c_begin, int64_t c_end) {
      for (int64_t k = 0; k < count; ++k) {
        const auto r = samples_of(rp + k * 5, a, height, width);
        for (int64_t c = c_begin; c < c_end; ++c) {
          acc_t* x = gi + (r.batch * channels + c) * plane;
          const scalar_t* g = gp + (k * channels + c) * bins;
          for (int64_t bin = 0; bin < bins; ++bin) {
            const acc_t share = acc_t(g[bin]) / r.geometry.count;
            for (const auto* b = r.bin_begin(bin); b != r.bin_end(bin); ++b) {
              for (int j = 0; j < 4; ++j) x[b->index[j]] += share * b->weight[j];
            }
          }
        }
      }
    });
  });
  return grad_input.to(grad.scalar_type());
}

}  // namespace lowbit::kernels::cpu
