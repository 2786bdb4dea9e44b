#pragma once
// Swin Transformer's windows (Liu et al. ICCV 2021), as timm 1.0.31's swin_transformer.py. Tokens
// lie on a side x side grid ([B, side * side, C], row-major: timm's NHWC flattened) and attend
// within non-overlapping window x window windows; every second block first shifts the grid
// cyclically by -shift along both axes (SW-MSA), and a mask keeps apart tokens that the shift
// brought together from different regions.
//
//   window_partition         [B, H, W, C] -> [B nW, w w, C], windows in row-major order, tokens
//                            row-major inside (timm's window_partition, then view)
//   window_reverse           [B nW, w w, C] -> [B, H, W, C], its inverse (timm's window_reverse)
//   relative_position_index  [w w, w w]: for tokens i = (y_i, x_i) and j of one window,
//                            (y_i - y_j + w - 1)(2w - 1) + (x_i - x_j + w - 1), the row of the
//                            bias table [(2w - 1)^2, heads] (timm's get_relative_position_index)
//   shifted_window_mask      [nW, w w, w w]: 0 where two tokens of a window come from the same
//                            region of the shifted grid, -100 elsewhere; regions along each axis
//                            [0, S - w), [S - w, S - shift), [S - shift, S), numbered row-major
//                            (timm's SwinTransformerBlock.get_attn_mask)
//   relative_position_bias   [heads, w w, w w]: the table's rows at the flattened index, per head
//                            (timm's WindowAttention._get_rel_pos_bias)
//   add_window_mask          attention logits [B nW, heads, N, N] + the mask of each window
//   attend_in_windows        tokens [B, S S, C] -> attention(windows) on the shifted windows, rolled
//                            back (timm's SwinTransformerBlock._attn)
// The training graph (TransformerBlock, QAttention) and the deploy runtime (csrc/deploy) both call
// these, so that a deployed Swin computes as the trained one.

#include <torch/types.h>

#include <functional>

namespace lowbit::layers {

// Where a transformer block attends: window 0 is global attention over all tokens (ViT).
struct ShiftedWindows {
  int64_t side = 0;    // the token grid is side x side
  int64_t window = 0;  // the window's side; it divides `side`
  int64_t shift = 0;   // cyclic shift before the windows, 0 <= shift < window
};

// timm's SwinTransformerBlock._calc_window_shift: a window not smaller than the grid is clipped to
// the grid and not shifted.
ShiftedWindows fit_windows(int64_t side, int64_t window, int64_t shift);

torch::Tensor window_partition(const torch::Tensor& grid, int64_t window);
torch::Tensor window_reverse(const torch::Tensor& windows, int64_t window, int64_t height, int64_t width);
torch::Tensor relative_position_index(int64_t window);
torch::Tensor shifted_window_mask(const ShiftedWindows& windows);
torch::Tensor relative_position_bias(const torch::Tensor& table, const torch::Tensor& flat_index, int64_t window);
torch::Tensor add_window_mask(const torch::Tensor& logits, const torch::Tensor& mask);
// `attention` maps windows [B nW, w w, C] to [B nW, w w, C]; `what` names the caller in errors.
torch::Tensor attend_in_windows(const torch::Tensor& tokens, const ShiftedWindows& windows,
                                const std::function<torch::Tensor(const torch::Tensor&)>& attention,
                                const char* what);

// A tensor derived from a layer's options, timm's non-persistent buffers (relative_position_index,
// attn_mask): not registered, so that state dicts hold exactly timm's keys; like() returns it on
// the reference's device (and, if floating, in its dtype), converting once per change.
class DerivedTensor {
 public:
  DerivedTensor() = default;
  explicit DerivedTensor(torch::Tensor tensor) : tensor_(std::move(tensor)) {}
  const torch::Tensor& like(const torch::Tensor& reference);
  bool defined() const { return tensor_.defined(); }

 private:
  torch::Tensor tensor_;
};

}  // namespace lowbit::layers
