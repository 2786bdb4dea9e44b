#pragma once
// RandAugment (Cubuk et al. 2020) as timm implements it and DeiT runs it:
// rand_augment_transform("rand-m9-mstd0.5-inc1", hparams) (timm/data/auto_augment.py), on uint8 RGB
// images [3, H, W]. For each of num_ops layers, an op is drawn uniformly from the 15 below (with
// replacement, np.random.choice); it is applied with probability p, at magnitude
//   m ~ N(magnitude, magnitude_std^2) clipped to [0, magnitude_max]   (AugmentOp.__call__)
// and, for the signed ops, a sign drawn with probability 1/2. Level to argument (level = m / 10):
//   Rotate               degrees = +-30 level            (rotate about the centre)
//   ShearX / ShearY      factor  = +-0.3 level           (affine {1, f, 0, 0, 1, 0} / {1, 0, 0, f, 1, 0})
//   TranslateX/YRel      pixels  = +-translate_pct level * width / height
//   PosterizeIncreasing  bits    = 4 - int(4 level)       (Posterize: int(4 level))
//   SolarizeIncreasing   thresh  = 256 - min(256, int(256 level))   (Solarize: min(256, int(256 level)))
//   SolarizeAdd          add     = min(128, int(110 level)), threshold 128
//   Color/Contrast/Brightness/SharpnessIncreasing  factor = max(0.1, 1 +- 0.9 level)
//                        (the non-increasing ones: factor = 1.8 level + 0.1, unsigned)
//   AutoContrast, Equalize, Invert: no argument.
// Geometric ops resample with `interpolation` and fill with `fill`, timm's img_mean
// (round(255 * ImageNet mean)). The pixel ops are PIL's (pil_ops.h, pil_affine.h). Randomness comes
// from lowbit's Rng: the same distributions as timm, not Python's random stream.

#include <lowbit/csrc/data/rng.h>
#include <lowbit/csrc/data/transforms.h>

#include <ATen/core/Tensor.h>

#include <array>
#include <string>
#include <vector>

namespace lowbit::data {

// timm's _RAND_INCREASING_TRANSFORMS (increasing) / _RAND_TRANSFORMS, in their order; the
// Posterize, Solarize and enhance ops take the increasing or the plain level-to-argument mapping.
enum class AugmentOp {
  AutoContrast, Equalize, Invert, Rotate, Posterize, Solarize, SolarizeAdd,
  Color, Contrast, Brightness, Sharpness, ShearX, ShearY, TranslateXRel, TranslateYRel,
};
inline constexpr int kNumAugmentOps = 15;

// timm's name of an op, e.g. "PosterizeIncreasing" when increasing.
std::string augment_op_name(AugmentOp op, bool increasing);

struct RandAugmentOptions {
  int64_t num_ops = 2;          // 'n'
  double magnitude = 9;         // 'm'
  double magnitude_std = 0.5;   // 'mstd': 0 fixes the magnitude, infinity (timm: > 100) draws U(0, m)
  double magnitude_max = 10;    // 'mmax' (timm's default bound, _LEVEL_DENOM)
  double probability = 0.5;     // 'p'
  bool increasing = true;       // 'inc'
  double translate_pct = 0.45;  // hparams translate_pct (timm's default)
  std::array<uint8_t, 3> fill = {124, 116, 104};  // hparams img_mean: round(255 * kImagenetMean)
  Interpolation interpolation = Interpolation::Bicubic;  // hparams interpolation
};

// timm's config string, e.g. "rand-m9-mstd0.5-inc1" (sections m, n, p, mstd, mmax, inc), over the
// defaults above except mstd = 0, m = 10 and inc = 0 when absent, as timm. Unknown sections are an
// error naming them.
RandAugmentOptions parse_rand_augment(const std::string& config);

// One op at a given magnitude (already drawn and clipped) and sign (negate: the signed ops take
// the negative argument), with options' increasing, translate_pct, fill and interpolation.
at::Tensor apply_augment_op(const at::Tensor& image, AugmentOp op, double magnitude, bool negate,
                            const RandAugmentOptions& options);

// One layer's draws: op ~ U{15 ops}; applied iff U(0, 1) <= p (AugmentOp.__call__ skips when
// U > p); magnitude as above; negate iff U(0, 1) > 0.5 (_randomly_negate; drawn for every op here,
// timm draws it only for the signed ones, which changes no distribution).
struct AugmentStep {
  AugmentOp op;
  bool applied;
  double magnitude;
  bool negate;
};

// The num_ops steps of one image, in order.
std::vector<AugmentStep> rand_augment_steps(Rng& rng, const RandAugmentOptions& options);

// The whole RandAugment: the applied steps of rand_augment_steps, in order.
at::Tensor rand_augment(const at::Tensor& image, Rng& rng, const RandAugmentOptions& options);

}  // namespace lowbit::data
