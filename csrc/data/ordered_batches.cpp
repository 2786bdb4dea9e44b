#include <lowbit/csrc/data/ordered_batches.h>

#include <lowbit/csrc/util/threads.h>

#include <c10/util/Exception.h>

#include <limits>
#include <system_error>

namespace lowbit::data {
namespace {

// The shuffle's and the batches' streams: indices no sample has, so they never share a seed with a sample's.
constexpr uint64_t kShuffleStream = std::numeric_limits<uint64_t>::max();
constexpr uint64_t kBatchStream = std::numeric_limits<uint64_t>::max() - 1;

std::vector<EpochEntry> epoch_order(int64_t size, const BatchingOptions& options, int64_t epoch) {
  std::vector<int64_t> order(size);
  for (int64_t i = 0; i < size; ++i) order[i] = i;
  if (options.shuffle()) {
    Rng rng(mix_seed(options.seed(), static_cast<uint64_t>(epoch), kShuffleStream));
    for (int64_t i = size - 1; i > 0; --i) std::swap(order[i], order[rng.integer(0, i)]);  // Fisher-Yates
  }
  return repeated_order(order, options.repeats());
}

}  // namespace

Rng BatchRequest::augmentation_rng(size_t k) const {
  return Rng(mix_seed(seed, static_cast<uint64_t>(epoch), streams.at(k)));
}

Rng BatchRequest::batch_rng() const {
  return Rng(mix_seed(mix_seed(seed, static_cast<uint64_t>(epoch), kBatchStream), static_cast<uint64_t>(index), 0));
}

OrderedBatches::OrderedBatches(std::string owner, int64_t num_samples, BatchingOptions options, Builder builder)
    : owner_(std::move(owner)),
      num_samples_(num_samples),
      options_(options),
      epoch_length_(repeated_epoch_length(num_samples, options.repeats())),
      builder_(std::move(builder)) {
  TORCH_CHECK(num_samples_ > 0, owner_, ": no samples");
  TORCH_CHECK(epoch_length_ > 0, owner_, ": repeated augmentation keeps floor(N / 256) * 256 samples per epoch "
              "(DeiT's RASampler), none of these ", num_samples_);
  TORCH_CHECK(builder_ != nullptr, owner_, ": no batch builder");
  TORCH_CHECK(options_.batch_size() > 0, owner_, ": batch_size must be positive, got ", options_.batch_size());
  TORCH_CHECK(options_.workers() > 0, owner_, ": workers must be positive, got ", options_.workers());
  TORCH_CHECK(options_.prefetch() > 0, owner_, ": prefetch must be positive, got ", options_.prefetch());
  try {
    for (int64_t i = 0; i < options_.workers(); ++i) workers_.emplace_back([this] { work(); });
  } catch (const std::system_error& e) {  // the threads started must not outlive this constructor
    stop_workers();
    TORCH_CHECK(false, owner_, ": cannot start ", options_.workers(), " threads, only ", workers_.size(), " (", e.what(), ")");
  }
}

OrderedBatches::~OrderedBatches() { stop_workers(); }

void OrderedBatches::stop_workers() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  work_ready_.notify_all();
  for (auto& worker : workers_) worker.join();
}

int64_t OrderedBatches::batches_per_epoch() const {
  const auto b = options_.batch_size();
  return options_.drop_last() ? epoch_length_ / b : (epoch_length_ + b - 1) / b;
}

void OrderedBatches::start_epoch(int64_t epoch, int64_t first, Shard shard) {
  TORCH_CHECK(shard.count >= 1 && shard.rank >= 0 && shard.rank < shard.count, owner_, ": shard ", shard.rank, " of ",
              shard.count, " does not exist");
  TORCH_CHECK(first >= 0 && first <= batches_per_epoch(), owner_, ": first batch ", first, " is outside [0, ",
              batches_per_epoch(), "]");
  auto order = std::make_shared<const std::vector<EpochEntry>>(epoch_order(num_samples_, options_, epoch));
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ++generation_;
    started_ = true;
    epoch_ = epoch;
    shard_ = shard;
    order_ = std::move(order);
    next_to_claim_ = first;
    next_to_return_ = first;
    built_.clear();
  }
  skipped_.clear();
  work_ready_.notify_all();
}

std::optional<std::any> OrderedBatches::next() {
  std::unique_lock<std::mutex> lock(mutex_);
  TORCH_CHECK(started_, owner_, ": call start_epoch() before next()");
  while (next_to_return_ < batches_per_epoch()) {
    batch_ready_.wait(lock, [&] { return built_.count(next_to_return_) > 0; });
    Built built = std::move(built_.extract(next_to_return_).mapped());
    ++next_to_return_;
    work_ready_.notify_all();
    if (built.error) std::rethrow_exception(built.error);
    skipped_.insert(skipped_.end(), built.built.skipped.begin(), built.built.skipped.end());
    if (built.built.batch.has_value()) return std::move(built.built.batch);
  }
  return std::nullopt;
}

void OrderedBatches::work() {
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
    const Shard shard = shard_;
    const auto order = order_;
    lock.unlock();
    Built built = build(batch_index, *order, epoch, shard, generation);
    lock.lock();
    if (generation == generation_ && !stop_) {
      built_.emplace(batch_index, std::move(built));
      batch_ready_.notify_all();
    }
  }
}

OrderedBatches::Built OrderedBatches::build(int64_t batch_index, const std::vector<EpochEntry>& order, int64_t epoch,
                                            const Shard& shard, uint64_t generation) const {
  const auto first = batch_index * options_.batch_size();
  const auto n = std::min<int64_t>(options_.batch_size(), static_cast<int64_t>(order.size()) - first);
  Built built;
  if (shard.begin(n) == shard.end(n)) return built;  // an empty share: nothing to build, nothing returned
  BatchRequest request{epoch, options_.seed(), batch_index, {}, {},
                       [this, generation] { return stop_ || generation != generation_; }};
  for (auto position = first + shard.begin(n); position < first + shard.end(n); ++position) {
    const auto& entry = order[static_cast<size_t>(position)];
    request.samples.push_back(entry.sample);
    request.streams.push_back(static_cast<uint64_t>(entry.copy * num_samples_ + entry.sample));
  }
  try {
    built.built = builder_(request);
  } catch (...) {
    built.error = std::current_exception();
  }
  return built;
}

}  // namespace lowbit::data
