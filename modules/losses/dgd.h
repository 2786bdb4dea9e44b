#pragma once
// Q-ViT's Distribution-Guided Distillation (Li et al. NeurIPS 2022, arXiv 2210.06707; book
// chapter Eq. 2.22-2.23; not in the official code YanjingLi0202/Q-ViT). For one attention layer
// and one of its query / key activations X ∈ R^{N×d} per image and head:
//   G = X Xᵀ ∈ R^{N×N}                    patch-to-patch similarity (symmetric)
//   G̃ = normalise(G)                      row: G_i / ‖G_i‖₂ per row i (default)
//                                          frobenius: G / ‖G‖_F
//   dgd = (1/B) Σ_n Σ_h ‖G̃_T − G̃_S‖_F      (squared: ‖·‖²_F instead)
// The Distiller sums it over the matched taps (layers, q and k) and multiplies by the term's
// weight λ, giving L_DGD = λ Σ_l Σ_h (‖G̃_{q,T} − G̃_{q,S}‖ + ‖G̃_{k,T} − G̃_{k,S}‖), batch-averaged.
// Both normalisations divide out any positive scale: dgd(c·X_T, X_T) = 0 for c > 0.
//
// Decisions where the spec (methods/qvit.md §4) marks an ambiguity:
//  1. "ℓ2 normalisation": row-wise by default, as in Similarity-Preserving KD (Tung & Mori 2019),
//     which the text cites; whole-matrix Frobenius is the option `frobenius`.
//  2. Norm of the difference: the Frobenius norm as written (unsquared), per image and head, then
//     the batch mean; `squared` gives SP-KD's squared form (without SP-KD's 1/b²).
//  3, 5. Which tensors: whatever the taps hold; the quantized attention publishes Q(q̃), Q(k̃).
//  4. Coefficient: the term's weight (default 1.0).
//  6. Windowed attention (Swin; the spec is written for DeiT): the taps are [B·nW, heads, 49, d],
//     so the mean above runs over windows, each weighed as a DeiT image is: per image, 1/nW of the
//     sum over its windows (nW = 64 in Swin's first stage at 224 px). Kept so that λ means the
//     same per attention map whatever the window count; a recipe that wants the per-image sum
//     scales the term's weight.
// Input: x [B, heads..., N, d] (at least [B, N, d]); teacher and student must agree on all but d,
// which may differ since G is N×N either way. Norms are clamped at 1e-12 (F.normalize's eps), so an
// all-zero row gives a zero row of G̃ instead of NaN. The gradient of the unsquared norm at a zero
// difference is taken as 0 (torch's linalg_vector_norm backward).

#include <torch/arg.h>
#include <torch/types.h>

namespace lowbit::losses {

enum class DgdNormalization { Row, Frobenius };

struct DgdOptions {
  TORCH_ARG(DgdNormalization, normalization) = DgdNormalization::Row;
  TORCH_ARG(bool, squared) = false;
};

// G̃ of x [B, ..., N, d]: [B, ..., N, N].
torch::Tensor normalized_similarity(const torch::Tensor& x, DgdNormalization normalization);

// One tap pair (one layer's q or k); the teacher is detached.
torch::Tensor dgd_loss(const torch::Tensor& student, const torch::Tensor& teacher, const DgdOptions& options = {});

}  // namespace lowbit::losses
