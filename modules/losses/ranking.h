#pragma once
// Bi-ViT's ranking-aware attention distillation (Li et al. AAAI 2024, arXiv 2305.12354). The
// paper's loss is neither in the official code (YanjingLi0202/Bi-ViT has no ranking loss) nor in
// any text we could read; this is the implementation the spec (methods/bivit.md §3) proposes, with
// every choice below a decision of ours, not a reproduction.
//
// For attention probabilities A ∈ R^{N_q×N} per image and head (each row a softmax over N keys),
// per query row i: J = the teacher's top-K keys of row i, ordered by A^T; s = scale; for the pairs
// (j, k) of J with A^T_ij > A^T_ik (teacher ties are left out: they carry no order) and
// Δ = s·(A^S_ij − A^S_ik):
//   logistic (default)  log(1 + exp(−Δ))                      (RankNet, Burges et al. 2005)
//   hinge               max(0, margin − Δ)
// averaged over all such pairs of the tensor (= mean over batch, heads, queries, pairs when no
// row has ties). The alternative
//   listnet             Σ_{j∈J} softmax(s·A^T_iJ)_j · log(softmax(s·A^T_iJ)_j / softmax(s·A^S_iJ)_j)
// (ListNet's top-one cross-entropy, Cao et al. 2007, less the teacher's entropy, so that it is 0
// at A^S = A^T; same gradient) is averaged over the rows.
//
// Decisions:
//  - The targets of logistic and hinge depend only on the ORDER of the teacher's row (top-K set and
//    pair signs), so they are invariant to any strictly increasing transform of A^T. ListNet's
//    target uses the teacher's values, as ListNet is defined; it is not order-only.
//  - K = 16 by default (the keys that carry the attention); top_k = 0 or top_k ≥ N uses all N keys.
//    The pairwise forms hold K² pairs per row: all keys of a 197-token DeiT map is 197³ per head,
//    too much for training; keep K small there.
//  - s = N by default (scale = 0), undoing the 1/N size of softmax values, so that Δ is O(1).
//  - The student tensor is the full-precision softmax output before the attention binariser (the
//    binarised map has two values per head and its ranks tie); which tap holds it is the attention
//    layer's business: the Distiller reads taps named by a regex.
//  - The logistic loss is not 0 at A^S = A^T and is not minimal there either: it keeps rewarding a
//    larger margin between correctly ordered keys; hinge is 0 once every pair is ordered with
//    margin; listnet is 0 exactly at A^S = A^T on J.
// Backward (logistic): dL/dΔ = −σ(−Δ)/P for each of the P pairs, Δ's gradient is ±s on A^S_ij, A^S_ik;
// keys outside J receive no gradient. The teacher is detached.
// Input: A^S and A^T of one shape [B, ..., N_q, N] (at least 2-D).

#include <torch/arg.h>
#include <torch/types.h>

namespace lowbit::losses {

enum class RankingForm { Logistic, Hinge, ListNet };

struct RankingOptions {
  TORCH_ARG(RankingForm, form) = RankingForm::Logistic;
  TORCH_ARG(int64_t, top_k) = 16;  // 0: all keys
  TORCH_ARG(double, scale) = 0;    // s; 0: the number of keys N
  TORCH_ARG(double, margin) = 1;   // hinge only
};

torch::Tensor ranking_loss(const torch::Tensor& student, const torch::Tensor& teacher, const RankingOptions& options = {});

}  // namespace lowbit::losses
