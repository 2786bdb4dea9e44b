#include <lowbit/modules/detection/position_encoding.h>

#include <torch/torch.h>

namespace lowbit::detection {

PositionEmbeddingSineImpl::PositionEmbeddingSineImpl(PositionEmbeddingSineOptions options_) : options(options_) {
  TORCH_CHECK_VALUE(options.num_pos_feats() > 0 && options.num_pos_feats() % 2 == 0,
                    "PositionEmbeddingSine: num_pos_feats must be positive and even, got ", options.num_pos_feats());
}

namespace {

// [B, h, w] positions -> [B, h, w, F]: sin at even features, cos at odd ones.
torch::Tensor encode(const torch::Tensor& position, const torch::Tensor& dim_t) {
  const auto angles = position.unsqueeze(-1) / dim_t;
  using torch::indexing::Slice;
  const auto sin = angles.index({"...", Slice(0, torch::indexing::None, 2)}).sin();
  const auto cos = angles.index({"...", Slice(1, torch::indexing::None, 2)}).cos();
  return torch::stack({sin, cos}, 4).flatten(3);
}

}  // namespace

torch::Tensor PositionEmbeddingSineImpl::forward(const torch::Tensor& mask) {
  TORCH_CHECK(mask.dim() == 3 && mask.scalar_type() == torch::kBool,
              "PositionEmbeddingSine: expected a bool mask [B, h, w], got ", mask.scalar_type(), " ", mask.sizes());
  const auto not_mask = mask.logical_not();
  auto y = not_mask.cumsum(1, torch::kFloat);
  auto x = not_mask.cumsum(2, torch::kFloat);
  if (options.normalize()) {
    const double eps = 1e-6;
    y = y / (y.narrow(1, y.size(1) - 1, 1) + eps) * options.scale();
    x = x / (x.narrow(2, x.size(2) - 1, 1) + eps) * options.scale();
  }
  const int64_t features = options.num_pos_feats();
  const auto i = torch::arange(features, mask.options().dtype(torch::kFloat));
  const auto dim_t = torch::pow(options.temperature(), 2 * torch::floor_divide(i, 2) / static_cast<double>(features));
  return torch::cat({encode(y, dim_t), encode(x, dim_t)}, 3).permute({0, 3, 1, 2});
}

void PositionEmbeddingSineImpl::pretty_print(std::ostream& stream) const {
  stream << "lowbit::detection::PositionEmbeddingSine(num_pos_feats=" << options.num_pos_feats()
         << ", temperature=" << options.temperature() << ", normalize=" << options.normalize() << ")";
}

}  // namespace lowbit::detection
