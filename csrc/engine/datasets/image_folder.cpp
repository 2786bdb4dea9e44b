// imagenet: ImageNet-style class folders, <root>/<train_folder>/<class>/*.JPEG and
// <root>/<val_folder>/<class>/*.JPEG, decoded and augmented by worker threads
// (csrc/data/loader.h) with the pipelines of data/imagenet_pipelines.h: by default ReActNet's /
// Bi-Real Net's, RandomResizedCrop(image_size) + Lighting + flip for training, Resize(image_size /
// 0.875) + CenterCrop(image_size) for evaluation; DeiT's with the keys of transform_config.h.
// Training batches may be mixed (mixup: the worker that builds a batch mixes it, seeded from the
// batch's number, BatchRequest::batch_rng) and drawn with repeated augmentation.
// Under data-parallel training each process mixes its own part of the batch with that part's
// flip, as DeiT does on each GPU (timm's Mixup on the local batch), and with the same draw (lam,
// mode, box) in every process, where DeiT's processes draw their own (numpy seeded with seed + rank).
// Options: image_size (224), train_folder ("train"), val_folder ("val"), skip_corrupt (false:
// a corrupt file is an error; true: left out and counted), and those of transform_config.h.
#include <lowbit/csrc/data/image_folder.h>
#include <lowbit/csrc/data/loader.h>
#include <lowbit/csrc/engine/datasets/dataset.h>
#include <lowbit/csrc/engine/datasets/decoding_threads.h>
#include <lowbit/csrc/engine/datasets/transform_config.h>
#include <lowbit/csrc/util/files.h>
#include <lowbit/csrc/util/option_error.h>

#include <ATen/ATen.h>

#include <iostream>

namespace lowbit::engine {
namespace {

class FolderSource : public DataSource {
 public:
  FolderSource(std::vector<data::ImageSample> samples, data::LoaderOptions options)
      : samples_(std::move(samples)), loader_(samples_, std::move(options)) {}
  int64_t num_samples() const override { return static_cast<int64_t>(samples_.size()); }
  int64_t batches_per_epoch() const override { return loader_.batches_per_epoch(); }

  std::unique_ptr<EpochReader> epoch(int64_t epoch, int64_t first) override { return shard_epoch(epoch, first, {}); }
  std::unique_ptr<EpochReader> shard_epoch(int64_t epoch, int64_t first, const data::Shard& shard) override {
    loader_.start_epoch(epoch, first, shard);
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
      batch = Batch();
      batch.images = built->images;
      batch.labels = built->labels;
      batch.soft_labels = built->soft_labels;
      return true;
    }

   private:
    data::ImageFolderLoader& loader_;
  };

  std::vector<data::ImageSample> samples_;
  data::ImageFolderLoader loader_;
};

struct FolderOptions {
  int64_t image_size = 224;
  std::string train_folder = "train", val_folder = "val";
  bool skip_corrupt = false;
  ImagenetAugmentation augmentation;
};

data::SampleTransform sample_transform(const FolderOptions& o, bool train) {
  const int64_t size = o.image_size;
  if (train) {
    return [size, pipeline = o.augmentation.train](const at::Tensor& image, data::Rng& rng) {
      return data::train_pipeline(image, rng, size, pipeline);
    };
  }
  return [size, pipeline = o.augmentation.eval](const at::Tensor& image, data::Rng&) {
    return data::eval_pipeline(image, size, pipeline);
  };
}

data::BatchTransform mixup_transform(const data::MixupOptions& options, int64_t num_classes) {
  return [options, num_classes](data::Batch& batch, data::Rng& rng) {
    auto mixed = data::mixup(batch.images, batch.labels, num_classes, options, rng);
    batch.images = std::move(mixed.images);
    batch.soft_labels = std::move(mixed.targets);
  };
}

class ImageFolderSet : public DataSet {
 public:
  ImageFolderSet(DataSpec spec, FolderOptions options) : spec_(std::move(spec)), options_(std::move(options)) {}

  std::unique_ptr<DataSource> open(data::Split split) const override {
    const bool train = split == data::Split::Train;
    auto folder = scan(train);
    auto& samples = folder.samples;
    const int64_t limit = train ? spec_.limit_train : spec_.limit_test;
    if (limit > 0 && limit < static_cast<int64_t>(samples.size())) samples.resize(static_cast<size_t>(limit));
    const auto& augmentation = options_.augmentation;
    const auto repeats = train ? augmentation.repeated_augment : 1;
    LOWBIT_CHECK_OPTION(repeats == 1 || samples.size() >= 256, "repeated_augment", "imagenet: repeated augmentation "
                        "keeps floor(N / 256) * 256 images per epoch (DeiT's RASampler), none of these ", samples.size());
    auto loader = data::LoaderOptions(sample_transform(options_, train))
                      .batch_size(train ? spec_.batch_size : spec_.eval_batch_size)
                      .shuffle(train)
                      .seed(spec_.seed)
                      .workers(decoding_threads(spec_.workers))
                      .repeats(repeats)
                      .skip_corrupt(options_.skip_corrupt);
    if (train && augmentation.mixup) {
      loader.batch_transform(mixup_transform(*augmentation.mixup, static_cast<int64_t>(folder.classes.size())));
    }
    return std::make_unique<FolderSource>(std::move(samples), std::move(loader));
  }

  Batch example(int64_t count) const override {
    Batch batch;
    batch.images = at::zeros({count, 3, options_.image_size, options_.image_size});
    batch.labels = at::zeros({count}, at::kLong);
    return batch;
  }

  std::optional<data::EvalPipeline> eval_pipeline() const override { return options_.augmentation.eval; }

 private:
  data::ImageFolder scan(bool train) const {
    try {
      return data::scan_image_folder(util::join_path(spec_.root, train ? options_.train_folder : options_.val_folder));
    } catch (const c10::Error& e) {
      throw OptionError({"root"}, e.msg());
    }
  }

  DataSpec spec_;
  FolderOptions options_;
};

std::unique_ptr<DataSet> image_folder(ParamReader& p, const DataSpec& spec) {
  data_root(spec);
  FolderOptions o;
  o.image_size = p.get<int64_t>("image_size", o.image_size);
  p.check(o.image_size > 0, "image_size", "expected a positive integer, got " + std::to_string(o.image_size));
  o.train_folder = p.get<std::string>("train_folder", o.train_folder);
  o.val_folder = p.get<std::string>("val_folder", o.val_folder);
  o.skip_corrupt = p.get<bool>("skip_corrupt", o.skip_corrupt);
  o.augmentation = read_imagenet_augmentation(p);
  return std::make_unique<ImageFolderSet>(spec, std::move(o));
}

}  // namespace

LOWBIT_REGISTER_DATASET(imagenet, image_folder);

}  // namespace lowbit::engine
