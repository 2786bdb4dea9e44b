#include <lowbit/modules/losses/ranking.h>

#include <torch/torch.h>

namespace lowbit::losses {

torch::Tensor ranking_loss(const torch::Tensor& student, const torch::Tensor& teacher, const RankingOptions& options) {
  TORCH_CHECK(student.dim() >= 2 && student.sizes() == teacher.sizes(), "ranking: student ", student.sizes(),
              " and teacher ", teacher.sizes(), " must be attention maps [batch, ..., queries, keys] of one shape");
  TORCH_CHECK_VALUE(options.top_k() >= 0, "ranking: top_k must be >= 0 (0: all keys), got ", options.top_k());
  TORCH_CHECK_VALUE(options.scale() >= 0, "ranking: scale must be >= 0 (0: the number of keys), got ", options.scale());
  const int64_t keys = student.size(-1);
  const int64_t k = options.top_k() == 0 ? keys : std::min(options.top_k(), keys);
  const double scale = options.scale() > 0 ? options.scale() : static_cast<double>(keys);
  const auto target = teacher.detach();
  // The teacher's top-K keys of every row, in the teacher's order.
  const auto top = std::get<1>(target.topk(k, -1, /*largest=*/true, /*sorted=*/true));
  const auto s = student.gather(-1, top) * scale;
  const auto t = target.gather(-1, top);
  if (options.form() == RankingForm::ListNet) {
    const auto log_q = torch::log_softmax(t * scale, -1);
    return (log_q.exp() * (log_q - torch::log_softmax(s, -1))).sum(-1).mean();
  }
  const auto delta = s.unsqueeze(-1) - s.unsqueeze(-2);                  // [..., K, K]: s_j − s_k
  const auto ordered = (t.unsqueeze(-1) > t.unsqueeze(-2)).to(s.dtype());  // j above k in the teacher
  const auto per_pair = options.form() == RankingForm::Logistic ? torch::softplus(-delta)
                                                                : torch::relu(options.margin() - delta);
  return (per_pair * ordered).sum() / ordered.sum().clamp_min(1);
}

}  // namespace lowbit::losses
