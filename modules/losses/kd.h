#pragma once
// Losses on logits [batch, classes]: knowledge distillation from a teacher's logits z_T, and the
// label cross-entropy they are combined with (the Distiller weighs and sums them). Every loss
// detaches the teacher's logits, so gradient reaches the student's z_S only.
//
//   kl_distillation    T² · (1/B) Σ_n KL(softmax(z_T/T) ‖ softmax(z_S/T))
//                      (Hinton et al. 2015; "batchmean": summed over classes, averaged over images;
//                      T² keeps the gradient's size independent of T)
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
//   label_cross_entropy  CE(z_S, y) with label smoothing ε: targets (1−ε)·onehot(y) + ε/C.
//
// Backward (p = softmax(z_S/T), q = softmax(z_T/T)):
//   d kl / d z_S = d distribution / d z_S = T · (p − q) / B
//   d hard / d z_S = (softmax(z_S) − onehot(argmax z_T)) / B

#include <torch/types.h>

namespace lowbit::losses {

torch::Tensor kl_distillation(const torch::Tensor& student, const torch::Tensor& teacher, double temperature = 1.0);
torch::Tensor distribution_loss(const torch::Tensor& student, const torch::Tensor& teacher, double temperature = 1.0);
torch::Tensor hard_distillation(const torch::Tensor& student, const torch::Tensor& teacher);
torch::Tensor label_cross_entropy(const torch::Tensor& student, const torch::Tensor& labels, double label_smoothing = 0.0);

}  // namespace lowbit::losses
