// The small data sets held in memory as uint8 images: fashion_mnist and mnist (IDX files, raw or
// .gz), cifar10 and cifar100 (binary batches; fine labels). Training batches are shuffled by a
// generator seeded from (seed, epoch); CIFAR training images are augmented with the standard
// 4-pixel padded random crop and horizontal flip (He et al. 2016), drawn from (seed, epoch, batch).
// Options: none besides the common data keys.
#include <lowbit/csrc/data/cifar.h>
#include <lowbit/csrc/data/mnist.h>
#include <lowbit/csrc/engine/datasets/dataset.h>
#include <lowbit/csrc/util/option_error.h>

#include <ATen/ATen.h>

namespace lowbit::engine {
namespace {

struct Normalization {
  std::vector<double> mean, std;
};

at::Generator generator_for(uint64_t seed, int64_t epoch, uint64_t stream) {
  auto gen = at::detail::createCPUGenerator();
  gen.set_current_seed(seed * 1000003ULL + static_cast<uint64_t>(epoch) * 7919ULL + stream);
  return gen;
}

class InMemorySource : public DataSource {
 public:
  InMemorySource(data::ImageSet set, const Normalization& norm, int64_t batch_size, bool train, bool augment,
                 uint64_t seed)
      : set_(std::move(set)), batch_size_(batch_size), train_(train), augment_(augment), seed_(seed) {
    const auto channels = set_.images.size(1);
    mean_ = at::tensor(norm.mean, at::kFloat).view({1, channels, 1, 1});
    std_ = at::tensor(norm.std, at::kFloat).view({1, channels, 1, 1});
  }
  int64_t num_samples() const override { return set_.labels.size(0); }
  int64_t batches_per_epoch() const override { return (num_samples() + batch_size_ - 1) / batch_size_; }
  std::unique_ptr<EpochReader> epoch(int64_t epoch, int64_t first) override { return shard_epoch(epoch, first, {}); }
  std::unique_ptr<EpochReader> shard_epoch(int64_t epoch, int64_t first, const data::Shard& shard) override;

  // The shard's part of batch `index`; its augmentation is the whole batch's, cut to the part.
  Batch make_batch(const at::Tensor& order, int64_t epoch, int64_t index, const data::Shard& shard) const {
    const auto start = index * batch_size_, n = std::min(batch_size_, num_samples() - start);
    const auto ids = order.slice(0, start + shard.begin(n), start + shard.end(n));
    auto images = set_.images.index_select(0, ids).to(at::kFloat).div_(255);
    if (augment_) images = augment(images, epoch, index, shard.begin(n), n);
    Batch batch;
    batch.images = (images - mean_) / std_;
    batch.labels = set_.labels.index_select(0, ids);
    return batch;
  }

 private:
  // `images`: samples [first, first + count) of a batch of `whole`, whose draws they take.
  at::Tensor augment(const at::Tensor& images, int64_t epoch, int64_t index, int64_t first, int64_t whole) const {
    auto gen = generator_for(seed_, epoch, 1 + static_cast<uint64_t>(index));
    const auto n = images.size(0), h = images.size(2), w = images.size(3);
    const auto padded = at::constant_pad_nd(images, {4, 4, 4, 4});
    const auto offsets = at::randint(0, 9, {whole, 2}, gen, at::kLong).slice(0, first, first + n);
    const auto flips = (at::rand({whole}, gen) < 0.5).slice(0, first, first + n);
    auto out = at::empty_like(images);
    for (int64_t i = 0; i < n; ++i) {
      auto crop = padded[i].slice(1, offsets[i][0].item<int64_t>(), offsets[i][0].item<int64_t>() + h)
                      .slice(2, offsets[i][1].item<int64_t>(), offsets[i][1].item<int64_t>() + w);
      out[i].copy_(flips[i].item<bool>() ? crop.flip({2}) : crop);
    }
    return out;
  }

  data::ImageSet set_;
  int64_t batch_size_;
  bool train_, augment_;
  uint64_t seed_;
  at::Tensor mean_, std_;
};

class InMemoryEpoch : public EpochReader {
 public:
  InMemoryEpoch(const InMemorySource& source, at::Tensor order, int64_t epoch, int64_t first, const data::Shard& shard)
      : source_(source), order_(std::move(order)), epoch_(epoch), next_(first), shard_(shard) {}
  bool next(Batch& batch) override {
    while (next_ < source_.batches_per_epoch()) {
      batch = source_.make_batch(order_, epoch_, next_++, shard_);
      if (batch.size() > 0) return true;  // an empty share is not returned
    }
    return false;
  }

 private:
  const InMemorySource& source_;
  at::Tensor order_;
  int64_t epoch_, next_;
  data::Shard shard_;
};

std::unique_ptr<EpochReader> InMemorySource::shard_epoch(int64_t epoch, int64_t first, const data::Shard& shard) {
  auto order = train_ ? at::randperm(num_samples(), generator_for(seed_, epoch, 0), at::kLong)
                      : at::arange(num_samples(), at::kLong);
  return std::make_unique<InMemoryEpoch>(*this, order, epoch, first, shard);
}

using Loader = std::function<data::ImageSet(const std::string& root, data::Split split)>;

// A data set of `loader`'s files with per-channel `norm` (statistics of its training set), images
// [channels, side, side].
class InMemorySet : public DataSet {
 public:
  InMemorySet(DataSpec spec, Loader loader, Normalization norm, int64_t channels, int64_t side, bool augment)
      : spec_(std::move(spec)), loader_(std::move(loader)), norm_(std::move(norm)), channels_(channels), side_(side),
        augment_(augment) {}

  std::unique_ptr<DataSource> open(data::Split split) const override {
    const bool train = split == data::Split::Train;
    data::ImageSet set;
    try {
      set = loader_(spec_.root, split);
    } catch (const c10::Error& e) {
      throw OptionError({"root"}, e.msg());
    }
    const int64_t limit = train ? spec_.limit_train : spec_.limit_test;
    if (limit > 0 && limit < set.labels.size(0)) {
      set.images = set.images.slice(0, 0, limit);
      set.labels = set.labels.slice(0, 0, limit);
    }
    return std::make_unique<InMemorySource>(std::move(set), norm_, train ? spec_.batch_size : spec_.eval_batch_size, train,
                                            train && augment_, spec_.seed);
  }

  Batch example(int64_t count) const override {
    Batch batch;
    batch.images = at::zeros({count, channels_, side_, side_});
    batch.labels = at::zeros({count}, at::kLong);
    return batch;
  }

 private:
  DataSpec spec_;
  Loader loader_;
  Normalization norm_;
  int64_t channels_, side_;
  bool augment_;
};

// `default_root` "": the recipe must name one.
DataSetFactory in_memory(std::string default_root, Loader loader, Normalization norm, int64_t channels, int64_t side,
                         bool augment) {
  return [=](ParamReader&, const DataSpec& spec) -> std::unique_ptr<DataSet> {
    DataSpec s = spec;
    s.root = data_root(spec, default_root);
    return std::make_unique<InMemorySet>(std::move(s), loader, norm, channels, side, augment);
  };
}

const Normalization kCifar{{0.4914, 0.4822, 0.4465}, {0.2470, 0.2435, 0.2616}};

data::ImageSet cifar10(const std::string& root, data::Split split) {
  return data::load_cifar(root, split, data::CifarVariant::Cifar10);
}
data::ImageSet cifar100(const std::string& root, data::Split split) {
  return data::load_cifar(root, split, data::CifarVariant::Cifar100Fine);
}

}  // namespace

LOWBIT_REGISTER_DATASET(fashion_mnist,
                        in_memory(data::kFashionMnistRoot, data::load_mnist, {{0.2860}, {0.3530}}, 1, 28, false));
LOWBIT_REGISTER_DATASET(mnist, in_memory("", data::load_mnist, {{0.1307}, {0.3081}}, 1, 28, false));
LOWBIT_REGISTER_DATASET(cifar10, in_memory("", cifar10, kCifar, 3, 32, true));
LOWBIT_REGISTER_DATASET(cifar100, in_memory("", cifar100, kCifar, 3, 32, true));

}  // namespace lowbit::engine
