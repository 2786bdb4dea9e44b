#pragma once
// The detection pipelines of mmdetection v2.0's Faster R-CNN configs (mmdet/datasets/pipelines/
// transforms.py; IDa-Det's configs/voc_faster_rcnn_bir18.py):
//   train: Resize(img_scale = scales, multiscale_mode 'value', keep_ratio) -> RandomFlip(flip)
//          -> Normalize(ImageNet mean, std, to_rgb) -> Pad(size_divisor)
//   test:  Resize(test_scale, keep_ratio) -> Normalize -> Pad(size_divisor)
// Resize with keep_ratio (mmcv.imrescale) to a scale (a, b): with long = max(a, b), short =
// min(a, b), the factor f = min(long / max(h, w), short / min(h, w)), the new size
// (int(w f + 0.5), int(h f + 0.5)); boxes scaled by (new w / w, new h / h) and clipped to the
// image. 'value' mode: one of the scales, uniformly. The padding is the collate's
// (detection_batch.h, size_divisor), which pads each batch to a multiple of it.
// Difference: mmcv resizes with cv2's bilinear, lowbit with the antialiased bilinear of
// transforms.h (PIL's); the two agree when enlarging (VOC's and COCO's images at these scales:
// 500 x 375 to 1000 x 600, 640 x 480 to 1333 x 800), and differ when shrinking, where the
// antialiased resize averages the pixels that cv2 skips.

#include <lowbit/csrc/data/detection_transforms.h>

#include <array>
#include <vector>

namespace lowbit::data {

using ImageScale = std::array<int64_t, 2>;  // (long edge, short edge) at most, in either order

struct MmdetTransformOptions {
  TORCH_ARG(std::vector<ImageScale>, scales) = {{1333, 800}};
  TORCH_ARG(ImageScale, test_scale) = ImageScale{1333, 800};
  TORCH_ARG(double, flip) = 0.5;
};

// (height, width) of an image of height x width rescaled to `scale` (mmcv.rescale_size).
std::pair<int64_t, int64_t> rescaled_size(int64_t height, int64_t width, const ImageScale& scale);

DetectionSample mmdet_train_transform(DetectionSample sample, Rng& rng, const MmdetTransformOptions& options);
DetectionSample mmdet_eval_transform(DetectionSample sample, const MmdetTransformOptions& options);

}  // namespace lowbit::data
