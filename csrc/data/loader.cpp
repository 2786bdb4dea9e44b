#include <lowbit/csrc/data/loader.h>

#include <lowbit/csrc/data/jpeg.h>
#include <lowbit/csrc/util/input_error.h>

#include <ATen/ATen.h>

namespace lowbit::data {
namespace {

BatchingOptions batching_of(const LoaderOptions& o) {
  return BatchingOptions()
      .batch_size(o.batch_size())
      .shuffle(o.shuffle())
      .seed(o.seed())
      .workers(o.workers())
      .prefetch(o.prefetch())
      .drop_last(o.drop_last())
      .repeats(o.repeats());
}

LoaderOptions with_transform_checked(LoaderOptions o) {
  TORCH_CHECK(o.transform() != nullptr, "ImageFolderLoader: no transform");
  return o;
}

}  // namespace

ImageFolderLoader::ImageFolderLoader(std::vector<ImageSample> samples, LoaderOptions options)
    : samples_(std::move(samples)),
      options_(with_transform_checked(std::move(options))),
      batches_("ImageFolderLoader", static_cast<int64_t>(samples_.size()), batching_of(options_),
               [this](const BatchRequest& request) { return build(request); }) {}

std::optional<Batch> ImageFolderLoader::next() {
  auto batch = batches_.next();
  if (!batch) return std::nullopt;
  return std::any_cast<Batch>(std::move(*batch));
}

BuiltBatch ImageFolderLoader::build(const BatchRequest& request) const {
  BuiltBatch built;
  at::Tensor images;
  std::vector<int64_t> labels;
  const auto size = static_cast<int64_t>(request.samples.size());
  for (size_t k = 0; k < request.samples.size(); ++k) {
    const auto index = request.samples[k];
    if (request.abandoned()) return built;  // nobody will read it
    const auto& sample = samples_[index];
    at::Tensor decoded;
    try {
      decoded = decode_jpeg(sample.path, options_.decode_min_size());
    } catch (const c10::Error& e) {
      if (!options_.skip_corrupt()) throw InputError(e.what_without_backtrace());
      built.skipped.push_back(e.what_without_backtrace());
      continue;
    }
    auto rng = request.augmentation_rng(k);
    at::Tensor image;
    try {
      image = options_.transform()(decoded, rng);
    } catch (const c10::Error& e) {
      TORCH_CHECK(false, sample.path, ": transform failed: ", e.what_without_backtrace());
    }
    if (!images.defined()) {
      std::vector<int64_t> shape = {size};
      shape.insert(shape.end(), image.sizes().begin(), image.sizes().end());
      images = at::empty(shape, image.options());
    }
    TORCH_CHECK(image.sizes() == images.sizes().slice(1), sample.path, ": transform gave shape ", image.sizes(),
                ", the batch's first image ", images.sizes().slice(1));
    images[static_cast<int64_t>(labels.size())].copy_(image);
    labels.push_back(sample.label);
  }
  if (labels.empty()) return built;
  const auto count = static_cast<int64_t>(labels.size());
  Batch batch{images.narrow(0, 0, count), at::tensor(labels, at::kLong), {}};
  if (options_.batch_transform()) {
    auto rng = request.batch_rng();
    options_.batch_transform()(batch, rng);
  }
  built.batch = std::move(batch);
  return built;
}

}  // namespace lowbit::data
