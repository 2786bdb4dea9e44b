#pragma once
// The standard ImageNet augmentations on single images [C, H, W] (no batch dimension), following
// torchvision.transforms. Geometric transforms take uint8 or float images and keep the dtype; all
// randomness comes from the caller's Rng, so equal seeds give equal outputs.
// Resizing is antialiased (the filter widens with the shrink factor), the tensor counterpart of
// PIL's resize that torchvision applies to the PIL images of the reference training scripts:
// bilinear by default (ReActNet / Bi-Real Net), bicubic for DeiT / timm.

#include <lowbit/csrc/data/rng.h>

#include <ATen/core/Tensor.h>

#include <array>
#include <string>

namespace lowbit::data {

// The resampling filter of a resize (and of RandAugment's affine ops), as PIL.Image.Resampling:
//   Bilinear: triangle, support 1;  Bicubic: Keys' cubic with a = -0.5, support 2.
// uint8 images resized with Bicubic follow PIL's Image.resize(BICUBIC) pixel for pixel (its
// fixed-point arithmetic, see pil_resample.h); Bilinear stays torch's antialiased interpolate
// (within one grey level of PIL's). Float images use torch's antialiased interpolate for both.
enum class Interpolation { Bilinear, Bicubic };

// "bilinear" or "bicubic" (timm's and torchvision's names); anything else is an error naming it.
Interpolation parse_interpolation(const std::string& name);

// ImageNet channel statistics (RGB, pixels in [0, 1]), as torchvision's reference scripts.
inline constexpr std::array<double, 3> kImagenetMean = {0.485, 0.456, 0.406};
inline constexpr std::array<double, 3> kImagenetStd = {0.229, 0.224, 0.225};

// Rows [top, top + height) and columns [left, left + width) of an image.
struct CropBox {
  int64_t top, left, height, width;
};

// torchvision RandomResizedCrop.get_params. With area = H * W, up to 10 attempts draw
//   target_area = area * U(scale[0], scale[1]),  aspect = exp(U(ln ratio[0], ln ratio[1])),
//   w = round(sqrt(target_area * aspect)),  h = round(sqrt(target_area / aspect))   (half to even)
// and accept the first with 0 < w <= W and 0 < h <= H, placed at top ~ U{0..H-h}, left ~ U{0..W-w}.
// After 10 failures: a centred crop of the whole image, narrowed to the nearest allowed aspect ratio
// (W/H < ratio[0]: w = W, h = round(w / ratio[0]); W/H > ratio[1]: h = H, w = round(h * ratio[1])).
CropBox random_resized_crop_box(int64_t height, int64_t width, Rng& rng, std::array<double, 2> scale = {0.08, 1.0},
                                std::array<double, 2> ratio = {3.0 / 4.0, 4.0 / 3.0});

// Antialiased resize to [C, height, width]; uint8 results are rounded (and clipped).
at::Tensor resize(const at::Tensor& image, int64_t height, int64_t width,
                  Interpolation interpolation = Interpolation::Bilinear);

// RandomResizedCrop(size, scale, ratio, interpolation): the box above, resized to size x size
// (timm's RandomResizedCropAndInterpolation draws the same box).
at::Tensor random_resized_crop(const at::Tensor& image, int64_t size, Rng& rng,
                               std::array<double, 2> scale = {0.08, 1.0},
                               std::array<double, 2> ratio = {3.0 / 4.0, 4.0 / 3.0},
                               Interpolation interpolation = Interpolation::Bilinear);

// RandomHorizontalFlip(p): out[c, y, x] = in[c, y, W - 1 - x] with probability p (one draw U(0,1) < p).
at::Tensor random_horizontal_flip(const at::Tensor& image, Rng& rng, double p = 0.5);

// AlexNet's PCA lighting noise (Krizhevsky et al. 2012), with the ImageNet RGB eigenvalues and
// eigenvectors of ReActNet's / Bi-Real Net's (and fb.resnet.torch's) `imagenet_pca`:
//   alpha_i ~ N(0, alphastd^2),  inc = eigvec * (alpha .* eigval),  out[c] = in[c] + inc[c].
// Float images: added as is (fb.resnet.torch, pixels in [0, 1]). uint8 images: exactly what the
// official ReActNet / Bi-Real code does to its uint8 PIL image, clip(in + inc, 0, 255) truncated back
// to uint8; on the 0..255 scale the increment is tiny (|inc| ~ 0.02), so a channel with inc < 0 loses
// one grey level and one with inc >= 0 is unchanged.
at::Tensor lighting(const at::Tensor& image, Rng& rng, double alphastd = 0.1);

// ToTensor: uint8 [C, H, W] -> float in [0, 1], in / 255.
at::Tensor to_float(const at::Tensor& image);

// Normalize(mean, std) on a float image: out[c] = (in[c] - mean[c]) / stddev[c].
at::Tensor normalize(const at::Tensor& image, std::array<double, 3> mean = kImagenetMean,
                     std::array<double, 3> stddev = kImagenetStd);

// Resize(size) with an int: the shorter side becomes size, the longer int(size * long / short)
// (truncated), as torchvision.
at::Tensor resize_shorter_side(const at::Tensor& image, int64_t size,
                               Interpolation interpolation = Interpolation::Bilinear);

// CenterCrop(size): top = round((H - size) / 2), left = round((W - size) / 2) (half to even);
// the image must be at least size x size.
at::Tensor center_crop(const at::Tensor& image, int64_t size);

}  // namespace lowbit::data
