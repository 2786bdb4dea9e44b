#include <lowbit/modules/losses/dgd.h>

#include <lowbit/csrc/util/dtypes.h>

#include <torch/torch.h>

namespace lowbit::losses {
namespace {

constexpr double kNormEps = 1e-12;

}  // namespace

torch::Tensor normalized_similarity(const torch::Tensor& x, DgdNormalization normalization) {
  TORCH_CHECK(x.dim() >= 3, "dgd: expected queries or keys [batch, heads..., tokens, features], got shape ", x.sizes());
  // In float at least: under autocast q and k may be float16, and the norm's sum of squares of the
  // Gram matrix passes 65504.
  const auto xf = util::at_least_float(x);
  const auto g = torch::matmul(xf, xf.transpose(-2, -1));
  const auto dims = normalization == DgdNormalization::Row ? std::vector<int64_t>{-1} : std::vector<int64_t>{-2, -1};
  return g / torch::linalg_vector_norm(g, 2, dims, /*keepdim=*/true).clamp_min(kNormEps);
}

torch::Tensor dgd_loss(const torch::Tensor& student, const torch::Tensor& teacher, const DgdOptions& options) {
  TORCH_CHECK(student.dim() >= 3 && student.dim() == teacher.dim() &&
                  student.sizes().slice(0, student.dim() - 1) == teacher.sizes().slice(0, teacher.dim() - 1),
              "dgd: student ", student.sizes(), " and teacher ", teacher.sizes(),
              " must agree on [batch, heads..., tokens] (only the feature size may differ)");
  const auto difference = normalized_similarity(teacher.detach(), options.normalization()) -
                          normalized_similarity(student, options.normalization());
  const auto per_head = options.squared() ? difference.square().sum({-2, -1})
                                          : torch::linalg_vector_norm(difference, 2, {-2, -1});
  return per_head.reshape({student.size(0), -1}).sum(1).mean();
}

}  // namespace lowbit::losses
