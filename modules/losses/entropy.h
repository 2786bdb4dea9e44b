#pragma once
// IDa-Det's information-discrepancy-aware entropy distillation of FPN maps (Xu et al., "IDa-Det:
// An Information Discrepancy-aware Distillation for 1-bit Detectors", ECCV 2022). Source: the
// official code, SteveTsui/IDa-Det @ 2a00945: mmdet/apis/train.py (batch_processor_kd, kd type
// "neck-adapt,mask-neck-ida,pixel-wise,entropy-loss", ida_mask) and
// mmdet/models/detectors/two_stage_kd.py (entropy_loss, neck_adapt). Per training step:
//
// 1. Pair boxes (inner level, no gradient), per image: the RPN proposals (x1, y1, x2, y2, score)
//    of each model with score > 0.85, NMS at IoU 0.1 per model (ops::nms), then
//    R = [teacher boxes; student boxes]; a box names the same place in both models' maps.
// 2. Discrepancy, per FPN level and box: map the box to feature cells (see Geometry), patch
//    ph x pw; if ph > 1 and pw > 1, per channel c softmax over the ph·pw cells of the detached
//    teacher / student patch, d_c = mean_c² / var_c (unbiased var, floored at 1e-12 so that a
//    constant patch gives a finite d instead of inf, and inf - inf = NaN), and
//        official: eps_n = Σ_c |d^T_c - d^S_c| / ph · pw      (the code's "/ph*pw")
//        fixed:    eps_n = Σ_c |d^T_c - d^S_c| / (ph · pw)
//    else eps_n = 0. (The paper's Mahalanobis distance, Eq. 6.83, is approximated so by the code.)
// 3. Per level and image, keep the round(0.6·N) boxes of largest eps (Python's round: half to
//    even; ties: the lower index first, i.e. teacher boxes before student boxes; the official
//    torch.sort is unstable there) and paint the binary mask M [B, H, W] from them.
// 4. Entropy loss per level l with adapter A_l = Conv3x3(256 -> 256, bias) on the student map and
//    one learnable sigma shared by the levels (Eq. 6.88 as the code has it):
//        L_l = [ Σ M·(1 + sigma⁻²)·(F^T - A_l(F^S))²  +  1e-3·log(sigma²)·B·C·H·W ] / max(1, Σ M)
//    with M broadcast over the C channels (Σ M counts them) and the log term NOT masked (it is
//    broadcast over every element and summed). L = weight · mean_l L_l, weight = hint_neck_w = 0.5.
//    Backward: autograd. dL_l/dsigma = [-2 sigma⁻³ Σ M (T - A)² + 2e-3 · B·C·H·W / sigma] / max(1, Σ M);
//    the student maps get the gradient through A_l; teacher maps are detached (the official code
//    relies on the teacher being frozen; the effect is the same).
//
// Geometry (spec idadet.md §8, quirks 1-3), `official` reproduces the code, `fixed` the intent:
//   official: x is normalised by the image *width* and scaled by the feature *height* and indexes
//             rows; y by the image height, scaled by the feature width, indexes columns
//             (ida_mask reads img_shape[1], the width, as "h_img"), and the mask marks two full-
//             width row bands, rows [r1, r2) and rows [c1, c2) (mask[b, x1:x2] = 1 and
//             mask[b, y1:y2] = 1), not the rectangle;
//   fixed:    rows from y (image height -> feature height), columns from x, the rectangle
//             mask[b, r1:r2, c1:c2] = 1, and eps normalised by the patch area.
// Both: cell = round(coordinate / image side · feature side), clamped to [0, side] (Python's
// slicing would wrap a negative start); image sides are the per-image sizes given, the official
// code's unpadded img_shape (for `fixed`, pass the padded input size to get the exact stride).
//
// Parameters (official names, as attributes of the detector there): `sigma` [1, 1, 1, 1], init
// 1.000001 (entropy_loss.sigma), and `neck_adapt.<l>.0.{weight,bias}` (neck_adapt[l] was a
// Sequential(Conv2d, Sequential())), weight init N(0, 1).fmod(2) · 1e-4, bias Conv2d's default.
// The optimizer trains them with the student (SGD, lr 0.004, weight decay 1e-4 in the recipe).

#include <lowbit/modules/taps/taps.h>

#include <torch/arg.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/modules/container/modulelist.h>

#include <array>
#include <string>
#include <vector>

namespace lowbit::losses {

enum class IdaGeometry { Official, Fixed };

IdaGeometry parse_ida_geometry(const std::string& name);  // "official" | "fixed"

struct EntropyDistillationOptions {
  TORCH_ARG(int64_t, levels) = 5;        // FPN levels P2..P6
  TORCH_ARG(int64_t, channels) = 256;    // FPN channels (the adapters' in and out)
  TORCH_ARG(bool, adapt) = true;         // "neck-adapt": a Conv3x3 adapter per level
  TORCH_ARG(double, score_threshold) = 0.85;
  TORCH_ARG(double, nms_iou) = 0.1;
  TORCH_ARG(double, proportion) = 0.6;   // gamma: share of the boxes kept, in (0, 1]
  TORCH_ARG(IdaGeometry, geometry) = IdaGeometry::Official;
  TORCH_ARG(double, sigma_init) = 1.000001;
  TORCH_ARG(double, log_weight) = 1e-3;  // of log(sigma²), >= 0
  TORCH_ARG(double, weight) = 0.5;       // hint_neck_w (lambda of Eq. 6.89), >= 0
  // Reading from taps (EntropyDistillationImpl::from_taps): the FPN maps (regex,
  // in publication order = level order) and the RPN proposals.
  TORCH_ARG(std::string, feature_pattern) = R"(^neck\.p[2-6]$)";
  TORCH_ARG(std::string, proposals_tap) = "rpn_head.proposals";
};

// Step 1 for one image: proposals [K, 5] (x1, y1, x2, y2, score) of each model -> boxes [N, 4]
// (teacher's kept, then student's kept).
at::Tensor ida_pair_boxes(const at::Tensor& student_proposals, const at::Tensor& teacher_proposals,
                          double score_threshold, double nms_iou);

// Step 2 for one image and level: maps [C, H, W], boxes [N, 4] in image pixels, image_size =
// (height, width). Returns eps [N] (float, or double for double maps), no gradient.
at::Tensor ida_discrepancy(const at::Tensor& teacher_map, const at::Tensor& student_map, const at::Tensor& boxes,
                           std::array<double, 2> image_size, IdaGeometry geometry);

// Step 3's choice: the indices of the round(proportion · N) largest of eps [N], largest first
// (ties: the lower index first).
std::vector<int64_t> ida_select(const std::vector<double>& eps, double proportion);

// Steps 2-3 for one level: maps [B, C, H, W], boxes: B tensors [N_b, 4], image_sizes [B, 2]
// (height, width). Returns the mask [B, H, W] (the maps' dtype), no gradient.
at::Tensor ida_mask(const at::Tensor& teacher_map, const at::Tensor& student_map, const std::vector<at::Tensor>& boxes,
                    const at::Tensor& image_sizes, double proportion, IdaGeometry geometry);

// Step 4 for one level, without the adapter: teacher_map and adapted_student [B, C, H, W], mask
// broadcastable to them ([B, H, W] is taken as [B, 1, H, W]), sigma a one-element tensor.
at::Tensor entropy_loss(const at::Tensor& teacher_map, const at::Tensor& adapted_student, const at::Tensor& mask,
                        const at::Tensor& sigma, double log_weight = 1e-3);

// sigma and the adapters, so that an optimizer trains them; forward is the whole of steps 1-4.
class EntropyDistillationImpl : public torch::nn::Cloneable<EntropyDistillationImpl> {
 public:
  explicit EntropyDistillationImpl(EntropyDistillationOptions options = {});
  void reset() override;

  // student_maps / teacher_maps: `levels` maps [B, C, H_l, W_l] each (student and teacher of a
  // level alike); proposals: B tensors [K_b, 5] per model; image_sizes [B, 2] (height, width).
  // Returns weight · mean over levels of L_l.
  torch::Tensor forward(const std::vector<torch::Tensor>& student_maps, const std::vector<torch::Tensor>& teacher_maps,
                        const std::vector<torch::Tensor>& student_proposals,
                        const std::vector<torch::Tensor>& teacher_proposals, const torch::Tensor& image_sizes);

  // Taps each model must publish (names as recorded, i.e. qualified by the module path):
  //   neck.p2 .. neck.p6 (`feature_pattern`)   [B, C, H_l, W_l]  the FPN outputs, in level order
  //   rpn_head.proposals (`proposals_tap`)     [K, 6]  (batch index, x1, y1, x2, y2, score): the
  //                                            RPN proposals of the whole batch, image pixels
  // image_sizes [B, 2] (height, width) comes from the batch, not from a tap.
  torch::Tensor from_taps(const taps::TapRecord& student, const taps::TapRecord& teacher, const torch::Tensor& image_sizes);

  void pretty_print(std::ostream& stream) const override;

  EntropyDistillationOptions options;
  torch::Tensor sigma;
  torch::nn::ModuleList neck_adapt{nullptr};
};
TORCH_MODULE(EntropyDistillation);

}  // namespace lowbit::losses
