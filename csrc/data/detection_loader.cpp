#include <lowbit/csrc/data/detection_loader.h>

#include <lowbit/csrc/data/jpeg.h>
#include <lowbit/csrc/util/input_error.h>

#include <ATen/ATen.h>

namespace lowbit::data {
namespace {

DetectionLoaderOptions with_detection_transform_checked(DetectionLoaderOptions o) {
  TORCH_CHECK(o.transform() != nullptr, "DetectionLoader: no transform");
  return o;
}

// The pixels of `image`, which must have the size its annotation file states.
at::Tensor decode_annotated(const DetectionImage& image) {
  auto pixels = decode_jpeg(image.path);
  TORCH_CHECK(pixels.size(1) == image.height && pixels.size(2) == image.width, image.path, ": the image is ",
              pixels.size(2), "x", pixels.size(1), " (width x height), its annotations say ", image.width, "x",
              image.height);
  return pixels;
}

}  // namespace

DetectionLoader::DetectionLoader(DetectionSet set, DetectionLoaderOptions options)
    : set_(std::move(set)),
      options_(with_detection_transform_checked(std::move(options))),
      batches_("DetectionLoader", static_cast<int64_t>(set_.images.size()), options_.batching(),
               [this](const BatchRequest& request) { return build(request); }) {}

std::optional<DetectionBatch> DetectionLoader::next() {
  auto batch = batches_.next();
  if (!batch) return std::nullopt;
  return std::any_cast<DetectionBatch>(std::move(*batch));
}

BuiltBatch DetectionLoader::build(const BatchRequest& request) const {
  BuiltBatch built;
  std::vector<at::Tensor> images;
  std::vector<DetectionTarget> targets;
  for (size_t k = 0; k < request.samples.size(); ++k) {
    const auto index = request.samples[k];
    if (request.abandoned()) return built;  // nobody will read it
    const auto& image = set_.images[static_cast<size_t>(index)];
    at::Tensor pixels;
    try {
      pixels = decode_annotated(image);
    } catch (const c10::Error& e) {
      if (!options_.skip_corrupt()) throw InputError(e.what_without_backtrace());
      built.skipped.push_back(e.what_without_backtrace());
      continue;
    }
    auto rng = request.augmentation_rng(k);
    DetectionSample sample;
    try {
      sample = options_.transform()(detection_sample(image, pixels), rng);
    } catch (const c10::Error& e) {
      TORCH_CHECK(false, image.path, ": transform failed: ", e.what_without_backtrace());
    }
    targets.push_back(detection_target(image, pixels.size(1), pixels.size(2), sample));
    images.push_back(std::move(sample.image));
  }
  if (!images.empty()) built.batch = collate_detection(images, std::move(targets), options_.size_divisor());
  return built;
}

}  // namespace lowbit::data
