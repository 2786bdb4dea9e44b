#pragma once
// Losses on logits [batch, classes]: knowledge distillation from a teacher's logits z_T, and the
// label cross-entropy they are combined with (the Distiller weighs and sums them). Every loss
// detaches the teacher's logits, so gradient reaches the student's z_S only.
//
//   kl_distillation    T² · (1/B) Σ_n KL(softmax(z_T/T) ‖ softmax(z_S/T))
//                      (Hinton et al. 2015; "batchmean": summed over classes, averaged over images;
//                      T² keeps the gradient's size independent of T)
//   deit_soft_distillation  T² · (1/(B·C)) Σ_n KL(softmax(z_T/T) ‖ softmax(z_S/T)) = kl_distillation / C
//                      DeiT's soft distillation (facebookresearch/deit losses.py, distillation_type
//                      'soft': kl_div(log_softmax(z_S/T), log_softmax(z_T/T), reduction='sum',
//                      log_target=True) · T² / z_S.numel()): divided by every logit, not by images.
//   distribution_loss  T² · (1/B) Σ_n Σ_c −softmax(z_T/T)_c · log softmax(z_S/T)_c
//                      ReActNet's DistributionLoss (Liu et al. ECCV 2020, utils/KD_loss.py, T = 1
//                      there): soft cross-entropy to the teacher, no label term. Also ReBNN's
//                      stage-2 objective and Bi-ViT's Swin loss. It is kl_distillation plus the
//                      teacher's entropy: the same gradient, a value that is not 0 at z_S = z_T.
//                      T != 1 is our extension, scaled by T² like kl_distillation.
//   hard_distillation  CE(z_S, argmax_c z_T)
//                      DeiT's hard-label distillation (Touvron et al. ICML 2021, losses.py
//                      DistillationLoss, distillation_type 'hard'; TerViT, Q-ViT, Bi-ViT DeiT
//                      recipes). A tie in the teacher goes to the lowest class index (torch argmax).
//   label_cross_entropy  CE(z_S, y) with label smoothing ε: targets (1−ε)·onehot(y) + ε/C, i.e.
//                      (1/B) Σ_n [(1−ε)·(−log p_n,y_n) + ε·(1/C) Σ_c −log p_nc], p = softmax(z_S)
//                      (torch's cross_entropy label_smoothing; timm's LabelSmoothingCrossEntropy)
//   soft_target_cross_entropy  (1/B) Σ_n Σ_c −t_nc · log softmax(z_S)_nc on soft targets t (the
//                      mixup / cutmix targets of data/mixup.h; timm's SoftTargetCrossEntropy, which
//                      DeiT trains with when mixup is on)
//   classification_cross_entropy  the label term of a batch: soft_target_cross_entropy on its soft
//                      targets when it has them, else label_cross_entropy. Soft targets carry their
//                      own smoothing (data.mixup.label_smoothing), so ε > 0 with them is an error.
//
// Backward (p = softmax(z_S/T), q = softmax(z_T/T)):
//   d kl / d z_S = d distribution / d z_S = T · (p − q) / B,   d deit_soft / d z_S = T · (p − q) / (B·C)
//   d hard / d z_S = (softmax(z_S) − onehot(argmax z_T)) / B
//   d label_cross_entropy / d z_S = (p − (1−ε)·onehot(y) − ε/C) / B
//   d soft_target_cross_entropy / d z_S = (p · Σ_c t_nc − t) / B   (= (p − t) / B when rows sum to 1)

#include <torch/types.h>

namespace lowbit::losses {

torch::Tensor kl_distillation(const torch::Tensor& student, const torch::Tensor& teacher, double temperature = 1.0);
torch::Tensor deit_soft_distillation(const torch::Tensor& student, const torch::Tensor& teacher,
                                     double temperature = 1.0);
torch::Tensor distribution_loss(const torch::Tensor& student, const torch::Tensor& teacher, double temperature = 1.0);
torch::Tensor hard_distillation(const torch::Tensor& student, const torch::Tensor& teacher);
torch::Tensor label_cross_entropy(const torch::Tensor& student, const torch::Tensor& labels, double label_smoothing = 0.0);
torch::Tensor soft_target_cross_entropy(const torch::Tensor& student, const torch::Tensor& targets);
// `soft_targets` undefined: label_cross_entropy(student, labels, label_smoothing).
torch::Tensor classification_cross_entropy(const torch::Tensor& student, const torch::Tensor& labels,
                                           const torch::Tensor& soft_targets, double label_smoothing = 0.0);

}  // namespace lowbit::losses
