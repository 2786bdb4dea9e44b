// coco and voc: detection data sets, decoded, augmented and collated by worker threads
// (csrc/data/detection_loader.h) with DETR's pipelines (csrc/data/detection_transforms.h) or
// mmdetection's (csrc/data/mmdet_transforms.h).
//
// coco: COCO "instances" annotations (csrc/data/coco.h) and their image folders under root (a
//   relative path is taken under root, an absolute one as it is). Options: train_images
//   ("train2017"), train_annotations ("annotations/instances_train2017.json"), val_images
//   ("val2017"), val_annotations ("annotations/instances_val2017.json").
// voc: PASCAL VOC, root = the VOCdevkit folder (csrc/data/voc.h). Options: train_sets
//   (["2007/trainval", "2012/trainval"]), test_sets (["2007/test"]).
// Both: pipeline (detr | mmdet; detr), skip_corrupt (false), and the pipeline's options:
//   detr:  the transform's sizes (DetrTransformOptions: scales, max_size, crop_scales, crop,
//          random_select, flip, eval_size, eval_max_size; eval_max_size defaults to max_size, so
//          that `max_size: 320` alone makes a small configuration); no padding beyond the batch's
//   mmdet: img_scales ([[1333, 800]]: [long, short] edges, one chosen per image), test_scale
//          ([1333, 800]), flip (0.5), size_divisor (32: the batch padded to multiples of it)
//
// A batch (docs: the detection batch):
//   images float [B, 3, H, W] normalised, zero-padded bottom/right; meta "mask" bool [B, H, W]
//   (true on padding), "image_sizes" float [B, 2] (h, w), "category_ids" int64 [K];
//   targets[i]: "boxes" [G, 4] (cx, cy, w, h) / (w, h), "labels" [G] (crowd / difficult left out),
//   "image_id" [], "orig_size" [2] (h, w), "gt_boxes" [A, 4] (x, y, w, h) original pixels,
//   "gt_labels" [A], "gt_area" [A], "gt_iscrowd" [A] (all annotations).
#include <lowbit/csrc/data/coco.h>
#include <lowbit/csrc/data/detection_loader.h>
#include <lowbit/csrc/data/mmdet_transforms.h>
#include <lowbit/csrc/data/voc.h>
#include <lowbit/csrc/engine/datasets/dataset.h>
#include <lowbit/csrc/engine/datasets/decoding_threads.h>
#include <lowbit/csrc/util/files.h>
#include <lowbit/csrc/util/option_error.h>

#include <ATen/ATen.h>

#include <iostream>

namespace lowbit::engine {
namespace {

TensorMap target_map(data::DetectionTarget t) {
  return {{"boxes", std::move(t.boxes)},         {"labels", std::move(t.labels)},
          {"image_id", std::move(t.image_id)},   {"orig_size", std::move(t.orig_size)},
          {"gt_boxes", std::move(t.gt_boxes)},   {"gt_labels", std::move(t.gt_labels)},
          {"gt_area", std::move(t.gt_area)},     {"gt_iscrowd", std::move(t.gt_iscrowd)}};
}

Batch engine_batch(data::DetectionBatch built, const at::Tensor& category_ids) {
  Batch batch;
  batch.images = std::move(built.images);
  batch.meta = {{"mask", std::move(built.mask)}, {"image_sizes", std::move(built.image_sizes)},
                {"category_ids", category_ids}};
  for (auto& target : built.targets) batch.targets.push_back(target_map(std::move(target)));
  return batch;
}

at::Tensor category_ids_of(const std::vector<data::DetectionCategory>& categories) {
  std::vector<int64_t> ids;
  for (const auto& c : categories) ids.push_back(c.id);
  return at::tensor(ids, at::kLong);
}

class DetectionSource : public DataSource {
 public:
  DetectionSource(data::DetectionSet set, data::DetectionLoaderOptions options)
      : category_ids_(category_ids_of(set.categories)), loader_(std::move(set), std::move(options)) {}
  int64_t num_samples() const override { return static_cast<int64_t>(loader_.set().images.size()); }
  int64_t batches_per_epoch() const override { return loader_.batches_per_epoch(); }

  std::unique_ptr<EpochReader> epoch(int64_t epoch, int64_t first) override { return shard_epoch(epoch, first, {}); }
  std::unique_ptr<EpochReader> shard_epoch(int64_t epoch, int64_t first, const data::Shard& shard) override {
    loader_.start_epoch(epoch, first, shard);
    return std::make_unique<Reader>(*this);
  }

 private:
  class Reader : public EpochReader {
   public:
    explicit Reader(DetectionSource& source) : source_(source) {}
    bool next(Batch& batch) override {
      auto& loader = source_.loader_;
      auto built = loader.next();
      if (!built) {
        if (loader.skipped_corrupt() > 0) {
          std::cerr << "lowbit: skipped " << loader.skipped_corrupt() << " corrupt files this epoch, first: "
                    << loader.skipped_errors().front() << "\n";
        }
        return false;
      }
      batch = engine_batch(std::move(*built), source_.category_ids_);
      return true;
    }

   private:
    DetectionSource& source_;
  };

  at::Tensor category_ids_;
  data::DetectionLoader loader_;
};

// Reads one split's annotations; throws OptionError at the option naming the files at fault.
using SplitReader = std::function<data::DetectionSet(data::Split split)>;

// A whole-image box labelled 0, for example(): matching and box losses see a valid target.
TensorMap example_target(int64_t image_id, int64_t size) {
  const auto s = static_cast<float>(size);
  return {{"boxes", at::tensor({0.5f, 0.5f, 1.0f, 1.0f}).view({1, 4})}, {"labels", at::zeros({1}, at::kLong)},
          {"image_id", at::scalar_tensor(image_id, at::kLong)},        {"orig_size", at::tensor({size, size}, at::kLong)},
          {"gt_boxes", at::tensor({0.0f, 0.0f, s, s}).view({1, 4})},   {"gt_labels", at::zeros({1}, at::kLong)},
          {"gt_area", at::tensor({s * s})},                             {"gt_iscrowd", at::zeros({1}, at::kBool)}};
}

// The transforms of the training and the test split, the collate's padding, and the side of the
// square images of example().
struct Pipeline {
  data::DetectionTransform train, eval;
  int64_t size_divisor = 1, example_size = 0;
};

class DetectionDataSet : public DataSet {
 public:
  DetectionDataSet(DataSpec spec, Pipeline pipeline, bool skip_corrupt, SplitReader read,
                   std::vector<int64_t> example_category_ids)
      : spec_(std::move(spec)),
        pipeline_(std::move(pipeline)),
        skip_corrupt_(skip_corrupt),
        read_(std::move(read)),
        example_category_ids_(std::move(example_category_ids)) {}

  std::unique_ptr<DataSource> open(data::Split split) const override {
    const bool train = split == data::Split::Train;
    auto set = read_(split);
    const int64_t limit = train ? spec_.limit_train : spec_.limit_test;
    if (limit > 0 && limit < static_cast<int64_t>(set.images.size())) set.images.resize(static_cast<size_t>(limit));
    const auto batching = data::BatchingOptions()
                              .batch_size(train ? spec_.batch_size : spec_.eval_batch_size)
                              .shuffle(train)
                              .seed(spec_.seed)
                              .workers(decoding_threads(spec_.workers));
    return std::make_unique<DetectionSource>(
        std::move(set), data::DetectionLoaderOptions(train ? pipeline_.train : pipeline_.eval)
                            .batching(batching)
                            .skip_corrupt(skip_corrupt_)
                            .size_divisor(pipeline_.size_divisor));
  }

  // Square images of the evaluation size (the eval transform of a square image, padded as the
  // collate pads), nothing masked.
  Batch example(int64_t count) const override {
    const auto size = pipeline_.example_size;
    Batch batch;
    batch.images = at::zeros({count, 3, size, size});
    batch.meta = {{"mask", at::zeros({count, size, size}, at::kBool)},
                  {"image_sizes", at::full({count, 2}, static_cast<double>(size), at::kFloat)},
                  {"category_ids", at::tensor(example_category_ids_, at::kLong)}};
    for (int64_t i = 0; i < count; ++i) batch.targets.push_back(example_target(i, size));
    return batch;
  }

 private:
  DataSpec spec_;
  Pipeline pipeline_;
  bool skip_corrupt_;
  SplitReader read_;
  std::vector<int64_t> example_category_ids_;
};

Pipeline detr_pipeline(ParamReader& p) {
  data::DetrTransformOptions o;
  o.scales(p.get<std::vector<int64_t>>("scales", o.scales()));
  o.max_size(p.get<int64_t>("max_size", o.max_size()));
  o.crop_scales(p.get<std::vector<int64_t>>("crop_scales", o.crop_scales()));
  o.crop(p.get<std::vector<int64_t>>("crop", o.crop()));
  o.random_select(p.get<double>("random_select", o.random_select()));
  o.flip(p.get<double>("flip", o.flip()));
  o.eval_size(p.get<int64_t>("eval_size", o.eval_size()));
  o.eval_max_size(p.get<int64_t>("eval_max_size", o.max_size()));
  data::check_options(o);
  Pipeline pipeline;
  pipeline.train = [o](data::DetectionSample s, data::Rng& rng) { return data::detr_train_transform(std::move(s), rng, o); };
  pipeline.eval = [o](data::DetectionSample s, data::Rng&) { return data::detr_eval_transform(std::move(s), o); };
  pipeline.example_size = data::resized_size(o.eval_size(), o.eval_size(), o.eval_size(), o.eval_max_size()).first;
  return pipeline;
}

data::ImageScale image_scale(ParamReader& p, const std::string& key, const std::vector<int64_t>& scale) {
  p.check(scale.size() == 2 && scale[0] > 0 && scale[1] > 0, key, "expected positive [long, short] edges, e.g. [1333, 800]");
  return {scale[0], scale[1]};
}

Pipeline mmdet_pipeline(ParamReader& p) {
  data::MmdetTransformOptions o;
  std::vector<data::ImageScale> scales;
  for (const auto& scale : p.get<std::vector<std::vector<int64_t>>>("img_scales", {{1333, 800}})) {
    scales.push_back(image_scale(p, "img_scales", scale));
  }
  o.scales(scales);
  o.test_scale(image_scale(p, "test_scale", p.get<std::vector<int64_t>>("test_scale", {1333, 800})));
  o.flip(p.get<double>("flip", o.flip()));
  p.check(o.flip() >= 0 && o.flip() <= 1, "flip", "expected a probability in [0, 1]");
  p.check(!o.scales().empty(), "img_scales", "expected at least one [long, short] scale");
  Pipeline pipeline;
  pipeline.size_divisor = p.get<int64_t>("size_divisor", 32);
  p.check(pipeline.size_divisor >= 1, "size_divisor", "expected a positive integer");
  pipeline.train = [o](data::DetectionSample s, data::Rng& rng) { return data::mmdet_train_transform(std::move(s), rng, o); };
  pipeline.eval = [o](data::DetectionSample s, data::Rng&) { return data::mmdet_eval_transform(std::move(s), o); };
  const auto side = data::rescaled_size(1, 1, o.test_scale()).first;  // a square image: the short edge
  pipeline.example_size = (side + pipeline.size_divisor - 1) / pipeline.size_divisor * pipeline.size_divisor;
  return pipeline;
}

Pipeline read_pipeline(ParamReader& p) {
  return p.choice("pipeline", "detr", {"detr", "mmdet"}) == 0 ? detr_pipeline(p) : mmdet_pipeline(p);
}

// `path` under `root`, unless absolute.
std::string under_root(const std::string& root, const std::string& path) {
  return !path.empty() && path.front() == '/' ? path : util::join_path(root, path);
}

// The ids of COCO 2017's 80 categories (instances_*2017.json "categories"), for example() only:
// open() takes them from the annotation file.
std::vector<int64_t> coco_2017_category_ids() {
  std::vector<int64_t> ids;
  for (int64_t id = 1; id <= 90; ++id) {
    if (id != 12 && id != 26 && id != 29 && id != 30 && id != 45 && id != 66 && id != 68 && id != 69 && id != 71 &&
        id != 83) {
      ids.push_back(id);
    }
  }
  return ids;
}

struct CocoFiles {
  std::string images, annotations;          // paths
  std::string images_key, annotations_key;  // the options that gave them
};

data::DetectionSet read_coco_files(const CocoFiles& files) {
  LOWBIT_CHECK_OPTION(util::is_directory(files.images), files.images_key, files.images, " is not a folder");
  try {
    return data::read_coco(files.annotations, files.images);
  } catch (const OptionError&) {
    throw;
  } catch (const c10::Error& e) {
    throw OptionError({files.annotations_key}, e.msg());
  }
}

std::unique_ptr<DataSet> coco_dataset(ParamReader& p, const DataSpec& spec) {
  const auto root = data_root(spec);
  const CocoFiles train{under_root(root, p.get<std::string>("train_images", "train2017")),
                        under_root(root, p.get<std::string>("train_annotations", "annotations/instances_train2017.json")),
                        "train_images", "train_annotations"};
  const CocoFiles val{under_root(root, p.get<std::string>("val_images", "val2017")),
                      under_root(root, p.get<std::string>("val_annotations", "annotations/instances_val2017.json")),
                      "val_images", "val_annotations"};
  const auto pipeline = read_pipeline(p);
  const auto skip_corrupt = p.get<bool>("skip_corrupt", false);
  auto read = [train, val](data::Split split) { return read_coco_files(split == data::Split::Train ? train : val); };
  return std::make_unique<DetectionDataSet>(spec, pipeline, skip_corrupt, read, coco_2017_category_ids());
}

std::vector<data::VocImageSet> voc_image_sets(ParamReader& p, const std::string& key, std::vector<std::string> fallback) {
  const auto specs = p.get<std::vector<std::string>>(key, std::move(fallback));
  p.check(!specs.empty(), key, "expected at least one image set, e.g. [\"2007/test\"]");
  std::vector<data::VocImageSet> sets;
  for (const auto& spec : specs) {
    try {
      sets.push_back(data::parse_voc_image_set(spec));
    } catch (const c10::Error& e) {
      p.fail(key, e.msg());
    }
  }
  return sets;
}

std::unique_ptr<DataSet> voc_dataset(ParamReader& p, const DataSpec& spec) {
  const auto root = data_root(spec);
  const auto train_sets = voc_image_sets(p, "train_sets", {"2007/trainval", "2012/trainval"});
  const auto test_sets = voc_image_sets(p, "test_sets", {"2007/test"});
  const auto pipeline = read_pipeline(p);
  const auto skip_corrupt = p.get<bool>("skip_corrupt", false);
  auto read = [root, train_sets, test_sets](data::Split split) {
    const auto& sets = split == data::Split::Train ? train_sets : test_sets;
    try {
      return data::read_voc(root, sets);
    } catch (const c10::Error& e) {
      throw OptionError({split == data::Split::Train ? "train_sets" : "test_sets"}, e.msg());
    }
  };
  std::vector<int64_t> ids;
  for (size_t k = 0; k < data::kVocClasses.size(); ++k) ids.push_back(static_cast<int64_t>(k) + 1);
  return std::make_unique<DetectionDataSet>(spec, pipeline, skip_corrupt, read, ids);
}

}  // namespace

LOWBIT_REGISTER_DATASET(coco, coco_dataset);
LOWBIT_REGISTER_DATASET(voc, voc_dataset);

}  // namespace lowbit::engine
