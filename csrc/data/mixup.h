#pragma once
// Mixup (Zhang et al., ICLR 2018) and CutMix (Yun et al., ICCV 2019) on a whole batch, as timm's
// timm/data/mixup.py Mixup in mode 'batch' (DeiT's training: mixup_alpha 0.8, cutmix_alpha 1.0,
// prob 1.0, switch_prob 0.5, label_smoothing 0.1, correct_lam). Every image i is mixed with image
// B - 1 - i of the same batch (the batch flipped), with one draw for the whole batch:
//   draw (timm Mixup._params_per_batch): with probability `prob` mix, else lam = 1 (untouched);
//     both alphas > 0: cutmix with probability switch_prob, lam ~ Beta(cutmix_alpha, cutmix_alpha),
//     else mixup, lam ~ Beta(mixup_alpha, mixup_alpha); one alpha > 0: that one.
//   mixup : x'_i = lam x_i + (1 - lam) x_{B-1-i}
//   cutmix (timm rand_bbox, cutmix_bbox_and_lam with correct_lam): r = sqrt(1 - lam),
//     cut_h = int(H r), cut_w = int(W r), centre cy ~ U{0..H-1}, cx ~ U{0..W-1},
//     rows [clip(cy - cut_h // 2), clip(cy + (cut_h + 1) // 2)), columns likewise (clipped to the
//     image), x'_i = x_i with the box taken from x_{B-1-i}, and lam = 1 - box area / (H W).
//     (timm 0.3.2, which DeiT pins, ends the box at cy + cut_h // 2: one row / column less when
//     cut_h / cut_w is odd; we follow today's timm.)
//   targets (timm mixup_target): y = onehot(label) (1 - eps) + eps / C, t_i = lam y_i + (1 - lam) y_{B-1-i}.
// An odd batch (timm asserts even ones) mixes its middle image with itself.

#include <lowbit/csrc/data/rng.h>
#include <lowbit/csrc/data/transforms.h>

#include <ATen/core/Tensor.h>
#include <torch/arg.h>

namespace lowbit::data {

struct MixupOptions {
  TORCH_ARG(double, mixup_alpha) = 0.8;  // > 0: mixup on; 0: off
  TORCH_ARG(double, cutmix_alpha) = 1.0;  // > 0: cutmix on; 0: off
  TORCH_ARG(double, prob) = 1.0;          // probability that a batch is mixed at all
  TORCH_ARG(double, switch_prob) = 0.5;   // with both on: probability of cutmix
  TORCH_ARG(double, label_smoothing) = 0.1;
};

// Throws OptionError at the option at fault (alphas >= 0, not both 0; probabilities in [0, 1];
// label_smoothing in [0, 1)).
void check_mixup_options(const MixupOptions& options);

// What one batch gets: lam = 1 leaves it as it is. For cutmix, `box` is the pasted region and
// `lam` already its corrected value.
struct MixupDraw {
  bool cutmix = false;
  double lam = 1.0;
  CropBox box{0, 0, 0, 0};
};

// The draws of timm's _params_per_batch (and rand_bbox for cutmix) for images height x width.
MixupDraw draw_mixup(const MixupOptions& options, Rng& rng, int64_t height, int64_t width);

// The cutmix box and corrected lam of rand_bbox + cutmix_bbox_and_lam for a centre (cy, cx).
MixupDraw cutmix_at(double lam, int64_t height, int64_t width, int64_t center_y, int64_t center_x);

// The images [B, C, H, W] (float) mixed with their flip by `draw`; a new tensor.
at::Tensor mix_images(const at::Tensor& images, const MixupDraw& draw);

// The soft targets float [B, num_classes] of labels int64 [B] (timm mixup_target).
at::Tensor mix_targets(const at::Tensor& labels, int64_t num_classes, double lam, double label_smoothing);

// One batch mixed: draw_mixup, mix_images and mix_targets.
struct MixedBatch {
  at::Tensor images;   // float [B, C, H, W]
  at::Tensor targets;  // float [B, num_classes]
};
MixedBatch mixup(const at::Tensor& images, const at::Tensor& labels, int64_t num_classes, const MixupOptions& options,
                 Rng& rng);

// A Beta(a, b) draw: X / (X + Y) with X ~ Gamma(a), Y ~ Gamma(b) (Marsaglia & Tsang, ACM TOMS
// 26(3), 2000, for shape >= 1; Gamma(a) = Gamma(a + 1) U^(1/a) below).
double beta_draw(Rng& rng, double a, double b);

}  // namespace lowbit::data
