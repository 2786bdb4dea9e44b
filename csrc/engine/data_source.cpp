#include <lowbit/csrc/engine/data_source.h>

#include <lowbit/csrc/data/cifar.h>
#include <lowbit/csrc/data/loader.h>
#include <lowbit/csrc/data/transforms.h>
#include <lowbit/csrc/data/mnist.h>
#include <lowbit/csrc/engine/recipe_error.h>

#include <lowbit/csrc/util/files.h>

#include <ATen/ATen.h>

#include <iostream>

namespace lowbit::engine {
namespace {

struct Normalization {
  std::vector<double> mean, std;
};

// Per-channel statistics of the training sets.
Normalization normalization_of(const std::string& dataset) {
  if (dataset == "fashion_mnist") return {{0.2860}, {0.3530}};
  if (dataset == "mnist") return {{0.1307}, {0.3081}};
  return {{0.4914, 0.4822, 0.4465}, {0.2470, 0.2435, 0.2616}};  // CIFAR
}

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
  int64_t num_classes() const override { return set_.num_classes; }
  int64_t batches_per_epoch() const override { return (num_samples() + batch_size_ - 1) / batch_size_; }

  std::unique_ptr<EpochReader> epoch(int64_t epoch, int64_t first) override;

  Batch make_batch(const at::Tensor& order, int64_t epoch, int64_t index) const {
    const auto ids = order.slice(0, index * batch_size_, std::min((index + 1) * batch_size_, num_samples()));
    auto images = set_.images.index_select(0, ids).to(at::kFloat).div_(255);
    if (augment_) images = augment(images, epoch, index);
    return {(images - mean_) / std_, set_.labels.index_select(0, ids)};
  }

 private:
  // Random crop after 4-pixel zero padding, and horizontal flip with probability 1/2 (the
  // standard CIFAR augmentation, He et al. 2016), drawn from (seed, epoch, batch).
  at::Tensor augment(const at::Tensor& images, int64_t epoch, int64_t index) const {
    auto gen = generator_for(seed_, epoch, 1 + static_cast<uint64_t>(index));
    const auto n = images.size(0), h = images.size(2), w = images.size(3);
    const auto padded = at::constant_pad_nd(images, {4, 4, 4, 4});
    const auto offsets = at::randint(0, 9, {n, 2}, gen, at::kLong);
    const auto flips = at::rand({n}, gen) < 0.5;
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
  InMemoryEpoch(const InMemorySource& source, at::Tensor order, int64_t epoch, int64_t first)
      : source_(source), order_(std::move(order)), epoch_(epoch), next_(first) {}
  bool next(Batch& batch) override {
    if (next_ >= source_.batches_per_epoch()) return false;
    batch = source_.make_batch(order_, epoch_, next_++);
    return true;
  }

 private:
  const InMemorySource& source_;
  at::Tensor order_;
  int64_t epoch_, next_;
};

std::unique_ptr<EpochReader> InMemorySource::epoch(int64_t epoch, int64_t first) {
  auto order = train_ ? at::randperm(num_samples(), generator_for(seed_, epoch, 0), at::kLong)
                      : at::arange(num_samples(), at::kLong);
  return std::make_unique<InMemoryEpoch>(*this, order, epoch, first);
}

// ImageNet-style folders, <root>/train/<class>/*.JPEG and <root>/val/<class>/*.JPEG, decoded and
// augmented by worker threads (csrc/data/loader.h).
class FolderSource : public DataSource {
 public:
  FolderSource(data::ImageFolder folder, data::LoaderOptions options, int64_t limit)
      : classes_(static_cast<int64_t>(folder.classes.size())),
        samples_(limit > 0 && limit < static_cast<int64_t>(folder.samples.size())
                     ? std::vector<data::ImageSample>(folder.samples.begin(), folder.samples.begin() + limit)
                     : std::move(folder.samples)),
        loader_(samples_, std::move(options)) {}
  int64_t num_samples() const override { return static_cast<int64_t>(samples_.size()); }
  int64_t num_classes() const override { return classes_; }
  int64_t batches_per_epoch() const override { return loader_.batches_per_epoch(); }

  std::unique_ptr<EpochReader> epoch(int64_t epoch, int64_t first) override {
    loader_.start_epoch(epoch, first);
    return std::make_unique<Reader>(loader_);
  }

 private:
  class Reader : public EpochReader {
   public:
    explicit Reader(data::ImageFolderLoader& loader) : loader_(loader) {}
    bool next(Batch& batch) override {
      auto built = loader_.next();
      if (!built) {
        if (loader_.skipped_corrupt() > 0) {
          std::cerr << "lowbit: skipped " << loader_.skipped_corrupt() << " corrupt files this epoch, first: "
                    << loader_.skipped_errors().front() << "\n";
        }
        return false;
      }
      batch = {built->images, built->labels};
      return true;
    }

   private:
    data::ImageFolderLoader& loader_;
  };

  int64_t classes_;
  std::vector<data::ImageSample> samples_;
  data::ImageFolderLoader loader_;
};

std::unique_ptr<DataSource> open_folder(const Recipe& recipe, bool train) {
  const auto& d = recipe.data;
  const int64_t size = d.image_size;
  data::SampleTransform transform = train
      ? data::SampleTransform([size](const at::Tensor& image, data::Rng& rng) { return data::imagenet_train_transform(image, rng, size); })
      : data::SampleTransform([size](const at::Tensor& image, data::Rng&) {
          return data::imagenet_eval_transform(image, size * 256 / 224, size);
        });
  auto folder = data::scan_image_folder(util::join_path(d.root, train ? d.train_folder : d.val_folder));
  return std::make_unique<FolderSource>(std::move(folder),
                                        data::LoaderOptions(std::move(transform))
                                            .batch_size(train ? d.batch_size : d.eval_batch_size)
                                            .shuffle(train)
                                            .seed(recipe.seed)
                                            .workers(std::max<int64_t>(1, d.workers))
                                            .skip_corrupt(d.skip_corrupt),
                                        train ? d.limit_train : d.limit_test);
}

data::ImageSet limited(data::ImageSet set, int64_t limit) {
  if (limit > 0 && limit < set.labels.size(0)) {
    set.images = set.images.slice(0, 0, limit);
    set.labels = set.labels.slice(0, 0, limit);
  }
  return set;
}

}  // namespace

at::Tensor example_images(const Recipe& recipe, int64_t count) {
  const auto& d = recipe.data.dataset;
  if (d == "fashion_mnist" || d == "mnist") return at::zeros({count, 1, 28, 28});
  if (d == "imagenet") return at::zeros({count, 3, recipe.data.image_size, recipe.data.image_size});
  return at::zeros({count, 3, 32, 32});
}

std::unique_ptr<DataSource> open_data(const Recipe& recipe, data::Split split) {
  const auto& d = recipe.data;
  const bool train = split == data::Split::Train;
  data::ImageSet set;
  try {
    if (d.dataset == "fashion_mnist" || d.dataset == "mnist") {
      set = data::load_mnist(d.root, split);
    } else if (d.dataset == "cifar10" || d.dataset == "cifar100") {
      set = data::load_cifar(d.root, split,
                             d.dataset == "cifar10" ? data::CifarVariant::Cifar10 : data::CifarVariant::Cifar100Fine);
    } else {
      return open_folder(recipe, train);
    }
  } catch (const c10::Error& e) {
    throw RecipeError(recipe.where("data.root") + ": data.root: " + e.msg());
  }
  set = limited(std::move(set), train ? d.limit_train : d.limit_test);
  const bool augment = train && (d.dataset == "cifar10" || d.dataset == "cifar100");
  return std::make_unique<InMemorySource>(std::move(set), normalization_of(d.dataset),
                                          train ? d.batch_size : d.eval_batch_size, train, augment, recipe.seed);
}

}  // namespace lowbit::engine
