#pragma once
// Q-DETR's Distribution Rectification Distillation, upper level (Xu et al., "Q-DETR: An
// Efficient Low-Bit Quantized Detection Transformer", CVPR 2023; Eqs. 2.33-2.38 of the authors'
// book chapter). No official code exists (SteveTsui/Q-DETR is a README); this follows the
// paper, with the decisions below. The inner level (DA) is layers::DistributionAlignment.
//
// Foreground-aware Query Matching (FQM), per image, no gradient, boxes (cx, cy, w, h):
//   G_i  = max_j GIoU(b^GT_i, b^S_j)                                   (Eq. 2.33)
//   keep student query j  iff  ∃i: GIoU(b^GT_i, b^S_j) > 0 and GIoU(b^GT_i, b^S_j) >= tau·G_i
//   teacher partner  k*(j) = argmax_k [ mu1·GIoU(b^S_j, b^T_k) - mu2·|b^S_j - b^T_k|_1 ]  (Eq. 2.35)
//   mu1 = 2, mu2 = 5 (DETR's matching weights), k over all teacher queries.
// Loss (Eq. 2.37), D the co-attended feature of a query (cross-attention output A·v, Eq. 2.26):
//   L_DRD = weight · mean over kept pairs (j, k*) and over the chosen decoder layers of
//           ||D^S_j - D^T_k*||_2     (Euclidean norm, not squared);  no kept query -> 0.
// Backward: autograd; only the student features get a gradient (teacher features are detached,
// the matching uses no gradient); the norm's gradient at D^S = D^T is 0, not NaN.
//
// Decisions at the spec's ambiguities (docs/methods/qdetr.md):
// - Keep rule. The printed Eq. 2.34 says "GIoU > tau·G_i, ∀i"; the prose says "around at least
//   one ground truth", so ∃i is the default and ∀i (GtRule::All) an option. For tau in [0, 1)
//   the printed strict rule equals ours up to the null set GIoU = tau·G_i (a query beating
//   tau·G_i of a GT with G_i > 0 has GIoU > 0; no query passes for G_i <= 0). We write ">=
//   tau·G_i and > 0" so that tau = 1 keeps the per-GT best queries instead of nothing, and
//   tau = 0 keeps exactly the queries with GIoU > 0 to some GT (the paper's "full imitation").
//   An image without GT boxes keeps no query (also under ∀i).
// - Teacher partner. Eq. 2.35 is a per-query argmax (several student queries may share one
//   teacher query): the default. TeacherMatching::Hungarian matches one-to-one instead
//   (util::linear_sum_assignment on the same score); with more kept student queries than
//   teacher queries the unmatched ones are dropped.
// - tau and lambda: the values chosen in the paper (Fig. 2.12a) were not retrieved, so tau has
//   no default; weight (lambda) defaults to 1.
// - Layers: the paper does not say which decoder layers feed L_DRD; by default every recorded
//   layer, averaged (`layers` picks some). One matching (from the final boxes) serves every
//   layer: query j is the same slot in each layer.

#include <lowbit/modules/taps/taps.h>

#include <torch/arg.h>
#include <torch/nn/cloneable.h>

#include <string>
#include <vector>

namespace lowbit::losses {

enum class GtRule { Any, All };                    // ∃i (default) or ∀i in the FQM keep rule
enum class TeacherMatching { Argmax, Hungarian };  // Eq. 2.35 per query (default) or one-to-one

struct DrdOptions {
  DrdOptions(double tau) : tau_(tau) {}  // NOLINT: implicit, as torch's options
  TORCH_ARG(double, tau);                // in [0, 1]
  TORCH_ARG(double, weight) = 1.0;       // lambda of Eq. 2.38, >= 0
  TORCH_ARG(GtRule, gt_rule) = GtRule::Any;
  TORCH_ARG(TeacherMatching, matching) = TeacherMatching::Argmax;
  TORCH_ARG(double, giou_weight) = 2.0;  // mu1, >= 0
  TORCH_ARG(double, l1_weight) = 5.0;    // mu2, >= 0
  // Reading from taps (see DrdLossImpl::from_taps): the co-attended features of the
  // decoder layers (regex, matched in publication order = layer order), the layers used (empty:
  // all; negative: from the last, -1 = last layer) and the predicted boxes.
  // The default names DETR's decoder cross-attention (official name `multihead_attn`,
  // modules/detection/transformer.h): transformer.decoder.layers.<i>.multihead_attn.attended.
  TORCH_ARG(std::string, feature_pattern) = R"(decoder\.layers\.\d+\.multihead_attn\.attended$)";
  TORCH_ARG(std::vector<int64_t>, layers) = {};
  TORCH_ARG(std::string, boxes_tap) = "pred_boxes";
};

// Parses "any" / "all" and "argmax" / "hungarian" (for recipes; errors name the option and the choices).
GtRule parse_gt_rule(const std::string& name);
TeacherMatching parse_teacher_matching(const std::string& name);

// Fails with a clear message when an option is out of range (tau outside [0, 1], negative weights).
void check(const DrdOptions& options);

// The FQM pairs of one image: student query `student[k]` imitates teacher query `teacher[k]`
// (int64 [K] each, on the boxes' device, sorted by student index).
struct QueryPairs {
  at::Tensor student, teacher;
};

// One image. student_boxes [N, 4], teacher_boxes [N_T, 4], gt_boxes [G, 4], all (cx, cy, w, h)
// (DETR's normalised boxes).
QueryPairs foreground_query_matching(const at::Tensor& student_boxes, const at::Tensor& teacher_boxes,
                                     const at::Tensor& gt_boxes, const DrdOptions& options);

// L_DRD on a batch. Features [B, N, C] (one decoder layer) or [L, B, N, C] (L layers, averaged);
// teacher features [B, N_T, C] / [L, B, N_T, C]; boxes [B, N, 4] / [B, N_T, 4]; gt_boxes: B
// tensors [G_b, 4]. Returns a scalar (weight already applied).
at::Tensor drd_loss(const at::Tensor& student_features, const at::Tensor& teacher_features,
                    const at::Tensor& student_boxes, const at::Tensor& teacher_boxes,
                    const std::vector<at::Tensor>& gt_boxes, const DrdOptions& options);

// The loss as a module (no parameters), reading either plain tensors or the taps of a student
// and a teacher forward.
class DrdLossImpl : public torch::nn::Cloneable<DrdLossImpl> {
 public:
  explicit DrdLossImpl(DrdOptions options);
  void reset() override;

  torch::Tensor forward(const torch::Tensor& student_features, const torch::Tensor& teacher_features,
                        const torch::Tensor& student_boxes, const torch::Tensor& teacher_boxes,
                        const std::vector<torch::Tensor>& gt_boxes);

  // Taps each model must publish (names as recorded, i.e. qualified by the module path):
  //   <layer>.multihead_attn.attended  [B, N, C]  per decoder layer, matching `feature_pattern`:
  //                                               the co-attended feature A·v of each query, heads
  //                                               concatenated, before the output projection
  //   pred_boxes (`boxes_tap`)         [B, N, 4]  the final predicted boxes, (cx, cy, w, h)
  // Student and teacher must record the same number of layers and feature size C; the query
  // count N may differ.
  torch::Tensor from_taps(const taps::TapRecord& student, const taps::TapRecord& teacher,
                        const std::vector<torch::Tensor>& gt_boxes);

  void pretty_print(std::ostream& stream) const override;

  DrdOptions options;
};
TORCH_MODULE(DrdLoss);

}  // namespace lowbit::losses
