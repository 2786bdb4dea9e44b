#include <lowbit/csrc/engine/datasets/transform_config.h>

#include <c10/util/StringUtil.h>

#include <limits>
#include <string>
#include <vector>

namespace lowbit::engine {
namespace {

data::Interpolation read_interpolation(ParamReader& p) {
  return p.choice("interpolation", "bilinear", {"bilinear", "bicubic"}) == 0 ? data::Interpolation::Bilinear
                                                                              : data::Interpolation::Bicubic;
}

double read_probability(ParamReader& p, const std::string& key, double fallback) {
  const auto value = p.get<double>(key, fallback);
  p.check(value >= 0 && value <= 1, key, "expected a probability in [0, 1], got " + c10::str(value));
  return value;
}

// [low, high] with 0 < low <= high (<= 1 for crop_scale), as RandomResizedCrop requires.
std::array<double, 2> read_range(ParamReader& p, const std::string& key, std::array<double, 2> fallback, double max) {
  const auto values = p.get<std::vector<double>>(key, {fallback[0], fallback[1]});
  p.check(values.size() == 2, key, "expected two numbers [low, high], got " + std::to_string(values.size()));
  p.check(0 < values[0] && values[0] <= values[1] && values[1] <= max, key,
          "expected 0 < low <= high" + (max == 1 ? std::string(" <= 1") : "") + ", got [" + c10::str(values[0]) + ", " +
              c10::str(values[1]) + "]");
  return {values[0], values[1]};
}

data::RandAugmentOptions read_rand_augment(ParamReader& p) {
  data::RandAugmentOptions o;
  o.magnitude = p.get<double>("magnitude", o.magnitude);
  p.check(o.magnitude >= 0 && o.magnitude <= o.magnitude_max, "magnitude",
          "expected a number in [0, " + c10::str(o.magnitude_max) + "], got " + c10::str(o.magnitude));
  o.magnitude_std = p.get<double>("magnitude_std", o.magnitude_std);
  p.check(o.magnitude_std >= 0, "magnitude_std", "expected a number >= 0, got " + c10::str(o.magnitude_std));
  o.num_ops = p.get<int64_t>("num_ops", o.num_ops);
  p.check(o.num_ops >= 1, "num_ops", "expected a positive integer, got " + std::to_string(o.num_ops));
  o.increasing = p.get<bool>("increasing", o.increasing);
  return o;
}

data::RandomErasingOptions read_random_erasing(ParamReader& p) {
  data::RandomErasingOptions o;
  o.probability = read_probability(p, "probability", o.probability);
  const std::vector<std::string> modes = {"const", "rand", "pixel"};
  o.mode = modes[p.choice("mode", o.mode, modes)];
  return o;
}

data::TrainPipeline read_train_pipeline(ParamReader& p) {
  data::TrainPipeline t;
  t.interpolation = read_interpolation(p);
  t.crop_scale = read_range(p, "crop_scale", t.crop_scale, 1);
  t.crop_ratio = read_range(p, "crop_ratio", t.crop_ratio, std::numeric_limits<double>::infinity());
  t.hflip = read_probability(p, "hflip", t.hflip);
  t.lighting = p.get<double>("lighting", t.lighting);
  p.check(t.lighting >= 0, "lighting", "expected a number >= 0 (the noise's alphastd; 0: off), got " + c10::str(t.lighting));
  t.rand_augment = p.nested("rand_augment", read_rand_augment);
  if (t.rand_augment) t.rand_augment->interpolation = t.interpolation;  // timm's aa_params['interpolation']
  t.random_erasing = p.nested("random_erasing", read_random_erasing);
  return t;
}

data::EvalPipeline read_eval_pipeline(ParamReader& p) {
  data::EvalPipeline e;
  e.interpolation = read_interpolation(p);
  e.crop_pct = p.get<double>("crop_pct", e.crop_pct);
  p.check(e.crop_pct > 0 && e.crop_pct <= 1, "crop_pct", "expected a number in (0, 1], got " + c10::str(e.crop_pct));
  return e;
}

data::MixupOptions read_mixup(ParamReader& p) {
  data::MixupOptions o;
  o.mixup_alpha(p.get<double>("mixup_alpha", o.mixup_alpha()));
  o.cutmix_alpha(p.get<double>("cutmix_alpha", o.cutmix_alpha()));
  o.prob(p.get<double>("prob", o.prob()));
  o.switch_prob(p.get<double>("switch_prob", o.switch_prob()));
  o.label_smoothing(p.get<double>("label_smoothing", o.label_smoothing()));
  data::check_mixup_options(o);
  return o;
}

}  // namespace

ImagenetAugmentation read_imagenet_augmentation(ParamReader& options) {
  ImagenetAugmentation a;
  a.train = options.nested("train_transform", read_train_pipeline).value_or(a.train);
  a.eval = options.nested("eval_transform", read_eval_pipeline).value_or(a.eval);
  a.mixup = options.nested("mixup", read_mixup);
  a.repeated_augment = options.get<int64_t>("repeated_augment", a.repeated_augment);
  options.check(a.repeated_augment >= 1, "repeated_augment",
                "expected a positive integer (copies of each image per epoch; 1: off), got " +
                    std::to_string(a.repeated_augment));
  return a;
}

}  // namespace lowbit::engine
