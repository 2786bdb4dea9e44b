#pragma once
// DETR's sine position encoding (facebookresearch/detr models/position_encoding.py,
// PositionEmbeddingSine with normalize=True, as build_position_encoding makes it): for a padding
// mask [B, h, w] (true on padding),
//   y = cumsum over rows of ~mask,  x = cumsum over columns of ~mask      (1-based positions)
//   y <- y / (y[last row] + 1e-6) * scale,  x <- x / (x[last column] + 1e-6) * scale   (normalize)
//   dim_t[i] = temperature^(2 floor(i/2) / F),  i = 0..F-1,  F = num_pos_feats
//   pos_y[..., i] = sin(y / dim_t[i]) for even i, cos(y / dim_t[i]) for odd i   (same for x)
//   pos = concat(pos_y, pos_x) -> [B, 2F, h, w]
// scale 2 pi, temperature 10000, F = d_model / 2. Padding does not move an image's own encoding:
// the cumulative sums stop growing on padding, so the last row / column holds the image's extent.
// No parameters (the official module has none either).

#include <torch/arg.h>
#include <torch/nn/cloneable.h>

#include <cmath>

namespace lowbit::detection {

struct PositionEmbeddingSineOptions {
  PositionEmbeddingSineOptions(int64_t num_pos_feats) : num_pos_feats_(num_pos_feats) {}  // NOLINT
  TORCH_ARG(int64_t, num_pos_feats);
  TORCH_ARG(double, temperature) = 10000;
  TORCH_ARG(bool, normalize) = true;
  TORCH_ARG(double, scale) = 2 * M_PI;
};

class PositionEmbeddingSineImpl : public torch::nn::Cloneable<PositionEmbeddingSineImpl> {
 public:
  explicit PositionEmbeddingSineImpl(PositionEmbeddingSineOptions options);
  void reset() override {}
  // mask bool [B, h, w] -> float [B, 2 num_pos_feats, h, w]
  torch::Tensor forward(const torch::Tensor& mask);
  void pretty_print(std::ostream& stream) const override;

  PositionEmbeddingSineOptions options;
};
TORCH_MODULE(PositionEmbeddingSine);

}  // namespace lowbit::detection
