#include <lowbit/csrc/data/imagenet_pipelines.h>

#include <cmath>

namespace lowbit::data {

at::Tensor train_pipeline(const at::Tensor& image, Rng& rng, int64_t size, const TrainPipeline& pipeline) {
  auto out = random_resized_crop(image, size, rng, pipeline.crop_scale, pipeline.crop_ratio, pipeline.interpolation);
  out = lighting(out, rng, pipeline.lighting);
  if (pipeline.hflip > 0) out = random_horizontal_flip(out, rng, pipeline.hflip);
  if (pipeline.rand_augment) out = rand_augment(out, rng, *pipeline.rand_augment);
  out = normalize(to_float(out));
  if (pipeline.random_erasing) out = random_erasing(out, rng, *pipeline.random_erasing);
  return out;
}

int64_t eval_resize(int64_t size, double crop_pct) {
  TORCH_CHECK_VALUE(crop_pct > 0 && crop_pct <= 1, "crop_pct: expected a number in (0, 1], got ", crop_pct);
  return static_cast<int64_t>(std::floor(static_cast<double>(size) / crop_pct));
}

at::Tensor eval_pipeline(const at::Tensor& image, int64_t size, const EvalPipeline& pipeline) {
  const auto resized = resize_shorter_side(image, eval_resize(size, pipeline.crop_pct), pipeline.interpolation);
  return normalize(to_float(center_crop(resized, size)));
}

}  // namespace lowbit::data
