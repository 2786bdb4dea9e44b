#pragma once
// Augmentations of an image together with its boxes, after DETR's datasets/transforms.py
// (facebookresearch/detr) and its make_coco_transforms (datasets/coco.py). The geometric ones keep
// the image's dtype (uint8 in, uint8 out, as DETR's PIL images) and move the boxes with it; all
// randomness comes from the caller's Rng, one draw where DETR draws one from `random` or torch.
// Boxes stay (x1, y1, x2, y2) in pixels of the current image throughout; turning them into a
// detector's targets (DETR: (cx, cy, w, h) / (W, H)) is the collate's job (detection_batch.h).

#include <lowbit/csrc/data/rng.h>
#include <lowbit/csrc/data/transforms.h>

#include <ATen/core/Tensor.h>
#include <torch/arg.h>

#include <functional>
#include <utility>
#include <vector>

namespace lowbit::data {

// One image and its boxes; boxes, labels and ignore stay in step (a crop drops rows of all three).
struct DetectionSample {
  at::Tensor image;   // [3, H, W]: uint8 as decoded, float after normalize()
  at::Tensor boxes;   // float [N, 4] (x1, y1, x2, y2), pixels
  at::Tensor labels;  // int64 [N]
  at::Tensor ignore;  // bool [N]: crowd (COCO) or difficult (VOC)
};

// hflip: image[c, y, x] -> image[c, y, W - 1 - x];  (x1, y1, x2, y2) -> (W - x2, y1, W - x1, y2).
DetectionSample hflip(DetectionSample sample);
// RandomHorizontalFlip(p): hflip when U(0, 1) < p.
DetectionSample random_horizontal_flip(DetectionSample sample, Rng& rng, double p = 0.5);

// DETR's get_size_with_aspect_ratio: the (height, width) that Resize(size, max_size) gives an
// image of `height` x `width`. With s = min(h, w), l = max(h, w):
//   max_size > 0 and l / s * size > max_size:  size = round(max_size * s / l)   (half to even)
//   the shorter side becomes size, the longer int(size * l / s) (truncated);
//   an image whose shorter side already is size keeps its size.
std::pair<int64_t, int64_t> resized_size(int64_t height, int64_t width, int64_t size, int64_t max_size = 0);
// Resize to height x width (bilinear, antialiased: transforms.h resize); boxes scaled by
// (new W / old W, new H / old H).
DetectionSample resize(DetectionSample sample, int64_t height, int64_t width);
// RandomResize(sizes, max_size): size = a uniform choice from `sizes`, then resized_size.
DetectionSample random_resize(DetectionSample sample, Rng& rng, const std::vector<int64_t>& sizes, int64_t max_size = 0);

// crop: the region's pixels; boxes shifted by (-left, -top), clipped to [0, width] x [0, height],
// and those left with x2 <= x1 or y2 <= y1 removed (with their labels and ignore flags).
DetectionSample crop(DetectionSample sample, const CropBox& region);
// RandomSizeCrop(min_size, max_size): w ~ U{min_size .. min(W, max_size)}, h ~ U{min_size ..
// min(H, max_size)}, then torchvision's RandomCrop.get_params: top ~ U{0 .. H - h}, left ~ U{0 ..
// W - w} (no draw when the crop is the whole image). The image must be at least min_size each way.
DetectionSample random_size_crop(DetectionSample sample, Rng& rng, int64_t min_size, int64_t max_size);

// ToTensor + Normalize(ImageNet mean, std) of the image; the boxes are untouched.
DetectionSample normalize(DetectionSample sample);

// The sizes of DETR's COCO pipelines; the defaults are make_coco_transforms'.
struct DetrTransformOptions {
  TORCH_ARG(std::vector<int64_t>, scales) = {480, 512, 544, 576, 608, 640, 672, 704, 736, 768, 800};
  TORCH_ARG(int64_t, max_size) = 1333;
  // The crop branch: RandomResize(crop_scales) -> RandomSizeCrop(crop[0], crop[1]) -> RandomResize(scales,
  // max_size). An empty crop leaves the flip and RandomResize(scales, max_size) only.
  TORCH_ARG(std::vector<int64_t>, crop_scales) = {400, 500, 600};
  TORCH_ARG(std::vector<int64_t>, crop) = {384, 600};
  // RandomSelect(p): the plain resize with probability p, else the crop branch.
  TORCH_ARG(double, random_select) = 0.5;
  TORCH_ARG(double, flip) = 0.5;
  TORCH_ARG(int64_t, eval_size) = 800;
  TORCH_ARG(int64_t, eval_max_size) = 1333;
};

// Throws c10::ValueError naming the option: empty scales, a non-positive size, crop not
// [min, max] with min <= max and min <= every crop_scale (so the crop always fits), p outside [0, 1].
void check_options(const DetrTransformOptions& options);

// train: RandomHorizontalFlip(flip) -> RandomSelect(RandomResize(scales, max_size),
//        [RandomResize(crop_scales), RandomSizeCrop(crop), RandomResize(scales, max_size)],
//        random_select) -> normalize
DetectionSample detr_train_transform(DetectionSample sample, Rng& rng, const DetrTransformOptions& options);
// eval: RandomResize([eval_size], eval_max_size) -> normalize
DetectionSample detr_eval_transform(DetectionSample sample, const DetrTransformOptions& options);

}  // namespace lowbit::data
