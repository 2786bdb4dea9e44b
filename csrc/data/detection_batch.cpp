#include <lowbit/csrc/data/detection_batch.h>

#include <ATen/ATen.h>

#include <algorithm>

namespace lowbit::data {
namespace {

// An image's annotations as tensors, in their order: boxes (x, y, w, h), labels, area, ignore.
struct AnnotationTensors {
  at::Tensor boxes, labels, area, ignore;
};

AnnotationTensors annotation_tensors(const DetectionImage& image) {
  const auto count = static_cast<int64_t>(image.annotations.size());
  AnnotationTensors t{at::empty({count, 4}, at::kFloat), at::empty({count}, at::kLong), at::empty({count}, at::kFloat),
                      at::empty({count}, at::kBool)};
  auto boxes = t.boxes.accessor<float, 2>();
  auto labels = t.labels.accessor<int64_t, 1>();
  auto area = t.area.accessor<float, 1>();
  auto ignore = t.ignore.accessor<bool, 1>();
  for (int64_t i = 0; i < count; ++i) {
    const auto& a = image.annotations[static_cast<size_t>(i)];
    for (int64_t k = 0; k < 4; ++k) boxes[i][k] = a.box[static_cast<size_t>(k)];
    labels[i] = a.label;
    area[i] = static_cast<float>(a.area);
    ignore[i] = a.ignore;
  }
  return t;
}

}  // namespace

DetectionSample detection_sample(const DetectionImage& image, at::Tensor pixels) {
  const auto a = annotation_tensors(image);
  const auto height = static_cast<double>(pixels.size(1)), width = static_cast<double>(pixels.size(2));
  const auto x1 = a.boxes.select(1, 0).clamp(0, width), y1 = a.boxes.select(1, 1).clamp(0, height);
  const auto x2 = (a.boxes.select(1, 0) + a.boxes.select(1, 2)).clamp(0, width);
  const auto y2 = (a.boxes.select(1, 1) + a.boxes.select(1, 3)).clamp(0, height);
  const auto keep = (y2 > y1).logical_and_(x2 > x1);
  return {std::move(pixels), at::stack({x1, y1, x2, y2}, 1).index({keep}), a.labels.index({keep}),
          a.ignore.index({keep})};
}

DetectionTarget detection_target(const DetectionImage& image, int64_t orig_height, int64_t orig_width,
                                 const DetectionSample& transformed) {
  DetectionTarget target;
  const auto train = transformed.ignore.logical_not();
  const auto xyxy = transformed.boxes.index({train});
  const auto height = static_cast<float>(transformed.image.size(1));
  const auto width = static_cast<float>(transformed.image.size(2));
  // box_xyxy_to_cxcywh: ((x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1), then / [w, h, w, h]
  const auto x1 = xyxy.select(1, 0), y1 = xyxy.select(1, 1), x2 = xyxy.select(1, 2), y2 = xyxy.select(1, 3);
  target.boxes = at::stack({(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1}, 1) /
                 at::tensor({width, height, width, height});
  target.labels = transformed.labels.index({train});
  target.image_id = at::scalar_tensor(image.id, at::kLong);
  target.orig_size = at::tensor({orig_height, orig_width}, at::kLong);
  const auto gt = annotation_tensors(image);
  target.gt_boxes = gt.boxes;
  target.gt_labels = gt.labels;
  target.gt_area = gt.area;
  target.gt_iscrowd = gt.ignore;
  return target;
}

DetectionBatch collate_detection(const std::vector<at::Tensor>& images, std::vector<DetectionTarget> targets,
                                 int64_t size_divisor) {
  TORCH_CHECK(!images.empty() && images.size() == targets.size(), "collate_detection: ", images.size(), " images and ",
              targets.size(), " targets");
  TORCH_CHECK(size_divisor >= 1, "collate_detection: size_divisor must be >= 1, got ", size_divisor);
  int64_t height = 0, width = 0;
  for (const auto& image : images) {
    TORCH_CHECK(image.dim() == 3 && image.size(0) == 3, "collate_detection: expected images [3, H, W], got ",
                image.sizes());
    height = std::max(height, image.size(1));
    width = std::max(width, image.size(2));
  }
  height = (height + size_divisor - 1) / size_divisor * size_divisor;
  width = (width + size_divisor - 1) / size_divisor * size_divisor;
  const auto count = static_cast<int64_t>(images.size());
  DetectionBatch batch;
  batch.images = at::zeros({count, 3, height, width}, images.front().options());
  batch.mask = at::ones({count, height, width}, at::kBool);
  batch.image_sizes = at::empty({count, 2}, at::kFloat);
  for (int64_t i = 0; i < count; ++i) {
    const auto& image = images[static_cast<size_t>(i)];
    const auto h = image.size(1), w = image.size(2);
    batch.images[i].narrow(1, 0, h).narrow(2, 0, w).copy_(image);
    batch.mask[i].narrow(0, 0, h).narrow(1, 0, w).fill_(false);
    batch.image_sizes[i][0] = static_cast<double>(h);
    batch.image_sizes[i][1] = static_cast<double>(w);
  }
  batch.targets = std::move(targets);
  return batch;
}

}  // namespace lowbit::data
