#include <lowbit/csrc/data/loader.h>

#include <lowbit/csrc/data/jpeg.h>
#include <lowbit/csrc/util/threads.h>

#include <ATen/ATen.h>

#include <limits>

namespace lowbit::data {
namespace {

// The shuffle's stream: an index no sample has, so it never shares a seed with a sample's.
constexpr uint64_t kShuffleStream = std::numeric_limits<uint64_t>::max();

std::vector<int64_t> epoch_order(int64_t size, bool shuffle, uint64_t seed, int64_t epoch) {
  std::vector<int64_t> order(size);
  for (int64_t i = 0; i < size; ++i) order[i] = i;
  if (!shuffle) return order;
  Rng rng(mix_seed(seed, static_cast<uint64_t>(epoch), kShuffleStream));
  for (int64_t i = size - 1; i > 0; --i) std::swap(order[i], order[rng.integer(0, i)]);  // Fisher-Yates
  return order;
}

}  // namespace

ImageFolderLoader::ImageFolderLoader(std::vector<ImageSample> samples, LoaderOptions options)
    : samples_(std::move(samples)), options_(std::move(options)) {
  TORCH_CHECK(!samples_.empty(), "ImageFolderLoader: no samples");
  TORCH_CHECK(options_.transform() != nullptr, "ImageFolderLoader: no transform");
  TORCH_CHECK(options_.batch_size() > 0, "ImageFolderLoader: batch_size must be positive, got ", options_.batch_size());
  TORCH_CHECK(options_.workers() > 0, "ImageFolderLoader: workers must be positive, got ", options_.workers());
  TORCH_CHECK(options_.prefetch() > 0, "ImageFolderLoader: prefetch must be positive, got ", options_.prefetch());
  for (int64_t i = 0; i < options_.workers(); ++i) workers_.emplace_back([this] { work(); });
}

ImageFolderLoader::~ImageFolderLoader() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  work_ready_.notify_all();
  for (auto& worker : workers_) worker.join();
}

int64_t ImageFolderLoader::batches_per_epoch() const {
  const auto n = static_cast<int64_t>(samples_.size());
  const auto b = options_.batch_size();
  return options_.drop_last() ? n / b : (n + b - 1) / b;
}

void ImageFolderLoader::start_epoch(int64_t epoch, int64_t first) {
  TORCH_CHECK(first >= 0 && first <= batches_per_epoch(), "ImageFolderLoader: first batch ", first,
              " is outside [0, ", batches_per_epoch(), "]");
  auto order = std::make_shared<const std::vector<int64_t>>(
      epoch_order(static_cast<int64_t>(samples_.size()), options_.shuffle(), options_.seed(), epoch));
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ++generation_;
    started_ = true;
    epoch_ = epoch;
    order_ = std::move(order);
    next_to_claim_ = first;
    next_to_return_ = first;
    built_.clear();
  }
  skipped_errors_.clear();
  work_ready_.notify_all();
}

std::optional<Batch> ImageFolderLoader::next() {
  std::unique_lock<std::mutex> lock(mutex_);
  TORCH_CHECK(started_, "ImageFolderLoader: call start_epoch() before next()");
  while (next_to_return_ < batches_per_epoch()) {
    batch_ready_.wait(lock, [&] { return built_.count(next_to_return_) > 0; });
    Built built = std::move(built_.extract(next_to_return_).mapped());
    ++next_to_return_;
    work_ready_.notify_all();
    if (built.error) std::rethrow_exception(built.error);
    skipped_errors_.insert(skipped_errors_.end(), built.skipped.begin(), built.skipped.end());
    if (built.batch) return std::move(built.batch);
  }
  return std::nullopt;
}

void ImageFolderLoader::work() {
  util::use_one_torch_thread_here();  // the workers are the parallelism
  const int64_t window = options_.workers() * options_.prefetch();
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    work_ready_.wait(lock, [&] {
      return stop_ || (started_ && next_to_claim_ < batches_per_epoch() && next_to_claim_ < next_to_return_ + window);
    });
    if (stop_) return;
    const int64_t batch_index = next_to_claim_++;
    const uint64_t generation = generation_;
    const int64_t epoch = epoch_;
    const auto order = order_;
    lock.unlock();
    Built built;
    try {
      built = build(batch_index, *order, epoch, generation);
    } catch (...) {
      built.error = std::current_exception();
    }
    lock.lock();
    if (generation == generation_ && !stop_) {
      built_.emplace(batch_index, std::move(built));
      batch_ready_.notify_all();
    }
  }
}

ImageFolderLoader::Built ImageFolderLoader::build(int64_t batch_index, const std::vector<int64_t>& order, int64_t epoch,
                                                  uint64_t generation) const {
  const auto begin = batch_index * options_.batch_size();
  const auto end = std::min<int64_t>(begin + options_.batch_size(), static_cast<int64_t>(order.size()));
  Built built;
  at::Tensor images;
  std::vector<int64_t> labels;
  for (int64_t position = begin; position < end; ++position) {
    if (stop_ || generation != generation_) return built;  // abandoned; nobody will read it
    const auto& sample = samples_[order[position]];
    at::Tensor decoded;
    try {
      decoded = decode_jpeg(sample.path, options_.decode_min_size());
    } catch (const c10::Error& e) {
      if (!options_.skip_corrupt()) throw;
      built.skipped.push_back(e.what_without_backtrace());
      continue;
    }
    Rng rng(mix_seed(options_.seed(), static_cast<uint64_t>(epoch), static_cast<uint64_t>(order[position])));
    at::Tensor image;
    try {
      image = options_.transform()(decoded, rng);
    } catch (const c10::Error& e) {
      TORCH_CHECK(false, sample.path, ": transform failed: ", e.what_without_backtrace());
    }
    if (!images.defined()) {
      std::vector<int64_t> shape = {end - begin};
      shape.insert(shape.end(), image.sizes().begin(), image.sizes().end());
      images = at::empty(shape, image.options());
    }
    TORCH_CHECK(image.sizes() == images.sizes().slice(1), sample.path, ": transform gave shape ", image.sizes(),
                ", the batch's first image ", images.sizes().slice(1));
    images[static_cast<int64_t>(labels.size())].copy_(image);
    labels.push_back(sample.label);
  }
  if (!labels.empty()) {
    const auto count = static_cast<int64_t>(labels.size());
    built.batch = Batch{images.narrow(0, 0, count), at::tensor(labels, at::kLong)};
  }
  return built;
}

}  // namespace lowbit::data
