#include <lowbit/modules/layers/windows.h>

#include <torch/torch.h>

namespace lowbit::layers {

ShiftedWindows fit_windows(int64_t side, int64_t window, int64_t shift) {
  if (side <= window) return {side, side, 0};
  return {side, window, shift};
}

torch::Tensor window_partition(const torch::Tensor& grid, int64_t window) {
  const int64_t batch = grid.size(0), height = grid.size(1), width = grid.size(2), channels = grid.size(3);
  return grid.view({batch, height / window, window, width / window, window, channels})
      .permute({0, 1, 3, 2, 4, 5})
      .reshape({-1, window * window, channels});
}

torch::Tensor window_reverse(const torch::Tensor& windows, int64_t window, int64_t height, int64_t width) {
  const int64_t channels = windows.size(-1);
  return windows.view({-1, height / window, width / window, window, window, channels})
      .permute({0, 1, 3, 2, 4, 5})
      .reshape({-1, height, width, channels});
}

torch::Tensor relative_position_index(int64_t window) {
  const auto steps = torch::arange(window, torch::kLong);
  const auto y = steps.repeat_interleave(window), x = steps.repeat(window);  // row-major token coordinates
  const auto dy = y.unsqueeze(1) - y.unsqueeze(0) + (window - 1);
  const auto dx = x.unsqueeze(1) - x.unsqueeze(0) + (window - 1);
  return dy * (2 * window - 1) + dx;
}

torch::Tensor shifted_window_mask(const ShiftedWindows& w) {
  auto regions = torch::zeros({1, w.side, w.side, 1});
  const int64_t bounds[] = {0, w.side - w.window, w.side - w.shift, w.side};
  int64_t region = 0;
  for (int r = 0; r < 3; ++r) {
    for (int c = 0; c < 3; ++c) {
      using torch::indexing::Slice;
      regions.index_put_({Slice(), Slice(bounds[r], bounds[r + 1]), Slice(bounds[c], bounds[c + 1]), Slice()},
                         static_cast<double>(region++));
    }
  }
  const auto ids = window_partition(regions, w.window).squeeze(-1);  // [nW, w w]
  const auto differ = ids.unsqueeze(1) != ids.unsqueeze(2);
  return torch::zeros(differ.sizes()).masked_fill(differ, -100.0);
}

torch::Tensor relative_position_bias(const torch::Tensor& table, const torch::Tensor& flat_index, int64_t window) {
  const auto area = window * window;
  return table.index_select(0, flat_index).view({area, area, table.size(1)}).permute({2, 0, 1});
}

torch::Tensor add_window_mask(const torch::Tensor& logits, const torch::Tensor& mask) {
  const int64_t batch = logits.size(0), heads = logits.size(1), tokens = logits.size(2), windows = mask.size(0);
  return (logits.view({batch / windows, windows, heads, tokens, tokens}) + mask.unsqueeze(1))
      .view({batch, heads, tokens, tokens});
}

torch::Tensor attend_in_windows(const torch::Tensor& tokens, const ShiftedWindows& w,
                                const std::function<torch::Tensor(const torch::Tensor&)>& attention,
                                const char* what) {
  TORCH_CHECK(tokens.dim() == 3 && tokens.size(1) == w.side * w.side, what, ": expected tokens [B, ", w.side * w.side,
              ", C] on its ", w.side, "x", w.side, " grid, got shape ", tokens.sizes());
  const int64_t batch = tokens.size(0), channels = tokens.size(2);
  auto grid = tokens.view({batch, w.side, w.side, channels});
  if (w.shift > 0) grid = torch::roll(grid, {-w.shift, -w.shift}, {1, 2});
  grid = window_reverse(attention(window_partition(grid, w.window)), w.window, w.side, w.side);
  if (w.shift > 0) grid = torch::roll(grid, {w.shift, w.shift}, {1, 2});
  return grid.reshape({batch, w.side * w.side, channels});
}

const torch::Tensor& DerivedTensor::like(const torch::Tensor& reference) {
  const bool dtype_differs = tensor_.is_floating_point() && tensor_.scalar_type() != reference.scalar_type();
  if (tensor_.device() != reference.device() || dtype_differs) {
    tensor_ = tensor_.to(reference.device(), dtype_differs ? reference.scalar_type() : tensor_.scalar_type());
  }
  return tensor_;
}

}  // namespace lowbit::layers
