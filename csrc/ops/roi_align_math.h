#pragma once
// RoIAlign's sampling (He et al., Mask R-CNN, ICCV 2017) as torchvision's ops/roi_align computes it
// (torchvision/csrc/ops/{cpu,cuda}/roi_align_kernel.*), shared by lowbit's CPU and CUDA kernels
// (no LibTorch). A RoI (x1, y1, x2, y2) in image coordinates maps to the feature map as
//   start = x1 scale - o,  size = x2 scale - o - start       (o = 0.5 when aligned, else 0;
//                                                            unaligned sizes at least 1)
// and is cut into pooled_h x pooled_w bins; each bin averages grid_h x grid_w bilinear samples at
//   y = start_y + ph size_y / pooled_h + (iy + 0.5) size_y / (pooled_h grid_h)     (likewise x)
// with grid = sampling_ratio when > 0, else ceil(size / pooled) (adaptive), and the average over
// max(grid_h grid_w, 1) samples. A sample outside [-1, H] x [-1, W] is 0; inside, y and x are
// clamped to >= 0 and the last row / column, and the four neighbours weigh
//   (1 - ly)(1 - lx), (1 - ly) lx, ly (1 - lx), ly lx,  ly = y - floor(y), lx = x - floor(x).

#include <lowbit/csrc/ops/ste.h>  // LOWBIT_HOST_DEVICE

#include <cmath>
#include <cstdint>

namespace lowbit::ops {

// The four neighbours of one sample (flat indices into an H x W plane) and their weights; all
// weights 0 (and indices 0) for a sample outside the map.
template <typename Acc>
struct BilinearSample {
  int64_t index[4];
  Acc weight[4];
};

template <typename Acc>
LOWBIT_HOST_DEVICE inline BilinearSample<Acc> bilinear_sample(Acc y, Acc x, int64_t height, int64_t width) {
  BilinearSample<Acc> s{{0, 0, 0, 0}, {Acc(0), Acc(0), Acc(0), Acc(0)}};
  if (y < Acc(-1) || y > Acc(height) || x < Acc(-1) || x > Acc(width)) return s;
  if (y <= Acc(0)) y = Acc(0);
  if (x <= Acc(0)) x = Acc(0);
  int64_t y_low = static_cast<int64_t>(y), x_low = static_cast<int64_t>(x), y_high, x_high;
  if (y_low >= height - 1) {
    y_high = y_low = height - 1;
    y = Acc(y_low);
  } else {
    y_high = y_low + 1;
  }
  if (x_low >= width - 1) {
    x_high = x_low = width - 1;
    x = Acc(x_low);
  } else {
    x_high = x_low + 1;
  }
  const Acc ly = y - Acc(y_low), lx = x - Acc(x_low), hy = Acc(1) - ly, hx = Acc(1) - lx;
  s.index[0] = y_low * width + x_low, s.index[1] = y_low * width + x_high;
  s.index[2] = y_high * width + x_low, s.index[3] = y_high * width + x_high;
  s.weight[0] = hy * hx, s.weight[1] = hy * lx, s.weight[2] = ly * hx, s.weight[3] = ly * lx;
  return s;
}

// One RoI's geometry on the feature map.
template <typename Acc>
struct RoIGeometry {
  Acc start_y, start_x, bin_h, bin_w;
  int64_t grid_h, grid_w;
  Acc count;  // samples averaged per bin
};

// roi: (x1, y1, x2, y2) in image coordinates.
template <typename Acc>
LOWBIT_HOST_DEVICE inline RoIGeometry<Acc> roi_geometry(Acc x1, Acc y1, Acc x2, Acc y2, Acc spatial_scale,
                                                        int64_t pooled_h, int64_t pooled_w, int64_t sampling_ratio,
                                                        bool aligned) {
  const Acc offset = aligned ? Acc(0.5) : Acc(0);
  RoIGeometry<Acc> g;
  g.start_x = x1 * spatial_scale - offset;
  g.start_y = y1 * spatial_scale - offset;
  Acc roi_w = x2 * spatial_scale - offset - g.start_x, roi_h = y2 * spatial_scale - offset - g.start_y;
  if (!aligned) {  // torchvision: force malformed RoIs to 1x1
    roi_w = roi_w > Acc(1) ? roi_w : Acc(1);
    roi_h = roi_h > Acc(1) ? roi_h : Acc(1);
  }
  g.bin_h = roi_h / Acc(pooled_h);
  g.bin_w = roi_w / Acc(pooled_w);
  g.grid_h = sampling_ratio > 0 ? sampling_ratio : static_cast<int64_t>(ceil(roi_h / Acc(pooled_h)));
  g.grid_w = sampling_ratio > 0 ? sampling_ratio : static_cast<int64_t>(ceil(roi_w / Acc(pooled_w)));
  const int64_t samples = g.grid_h * g.grid_w;
  g.count = Acc(samples > 1 ? samples : 1);
  return g;
}

// The sample (iy, ix) of bin (ph, pw).
template <typename Acc>
LOWBIT_HOST_DEVICE inline Acc sample_y(const RoIGeometry<Acc>& g, int64_t ph, int64_t iy) {
  return g.start_y + Acc(ph) * g.bin_h + (Acc(iy) + Acc(0.5)) * g.bin_h / Acc(g.grid_h);
}
template <typename Acc>
LOWBIT_HOST_DEVICE inline Acc sample_x(const RoIGeometry<Acc>& g, int64_t pw, int64_t ix) {
  return g.start_x + Acc(pw) * g.bin_w + (Acc(ix) + Acc(0.5)) * g.bin_w / Acc(g.grid_w);
}

// Calls fn(sample) for every bilinear sample of bin (ph, pw), row by row.
template <typename Acc, typename Fn>
LOWBIT_HOST_DEVICE inline void for_each_bin_sample(const RoIGeometry<Acc>& g, int64_t ph, int64_t pw, int64_t height,
                                                   int64_t width, Fn&& fn) {
  for (int64_t iy = 0; iy < g.grid_h; ++iy) {
    const Acc y = sample_y(g, ph, iy);
    for (int64_t ix = 0; ix < g.grid_w; ++ix) fn(bilinear_sample(y, sample_x(g, pw, ix), height, width));
  }
}

}  // namespace lowbit::ops
