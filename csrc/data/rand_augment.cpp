#include <lowbit/csrc/data/rand_augment.h>

#include <lowbit/csrc/data/pil_affine.h>
#include <lowbit/csrc/data/pil_ops.h>

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>
#include <vector>

namespace lowbit::data {
namespace {

constexpr double kLevelDenominator = 10.0;  // timm's _LEVEL_DENOM

// timm's _enhance_increasing_level_to_arg / _enhance_level_to_arg.
double enhance_factor(double level, bool negate, bool increasing) {
  if (!increasing) return level * 1.8 + 0.1;
  const double delta = level * 0.9;
  return std::max(0.1, 1.0 + (negate ? -delta : delta));
}

// "m9" -> ("m", "9"): timm splits a section at its first digit (re.split(r'(\d.*)', c)).
std::pair<std::string, std::string> split_section(const std::string& section) {
  const auto digit = section.find_first_of("0123456789");
  if (digit == std::string::npos) return {section, ""};
  return {section.substr(0, digit), section.substr(digit)};
}

double parse_config_number(const std::string& config, const std::string& key, const std::string& text) {
  size_t used = 0;
  double value = 0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  TORCH_CHECK(used == text.size() && !text.empty(), "RandAugment config '", config, "': section '", key, text,
              "' needs a number");
  return value;
}

}  // namespace

std::string augment_op_name(AugmentOp op, bool increasing) {
  static const char* const names[kNumAugmentOps] = {
      "AutoContrast", "Equalize", "Invert",     "Rotate", "Posterize", "Solarize",      "SolarizeAdd",  "Color",
      "Contrast",     "Brightness", "Sharpness", "ShearX", "ShearY",   "TranslateXRel", "TranslateYRel",
  };
  const std::string name = names[static_cast<int>(op)];
  const bool has_increasing_variant = op == AugmentOp::Posterize || op == AugmentOp::Solarize ||
                                      op == AugmentOp::Color || op == AugmentOp::Contrast ||
                                      op == AugmentOp::Brightness || op == AugmentOp::Sharpness;
  return increasing && has_increasing_variant ? name + "Increasing" : name;
}

RandAugmentOptions parse_rand_augment(const std::string& config) {
  std::vector<std::string> sections;
  std::stringstream stream(config);
  for (std::string section; std::getline(stream, section, '-');) sections.push_back(section);
  TORCH_CHECK(!sections.empty() && sections[0] == "rand", "RandAugment config '", config,
              "': expected it to start with 'rand' (e.g. rand-m9-mstd0.5-inc1)");
  RandAugmentOptions options;
  options.magnitude = kLevelDenominator;
  options.magnitude_std = 0;
  options.increasing = false;
  for (size_t i = 1; i < sections.size(); ++i) {
    const auto [key, text] = split_section(sections[i]);
    if (text.empty()) continue;  // timm skips sections without a number
    const double value = parse_config_number(config, key, text);
    if (key == "m") {
      options.magnitude = value;
    } else if (key == "n") {
      options.num_ops = static_cast<int64_t>(value);
    } else if (key == "p") {
      options.probability = value;
    } else if (key == "mstd") {
      options.magnitude_std = value > 100 ? std::numeric_limits<double>::infinity() : value;
    } else if (key == "mmax") {
      options.magnitude_max = value;
    } else if (key == "inc") {
      options.increasing = value != 0;
    } else {
      TORCH_CHECK(false, "RandAugment config '", config, "': unknown section '", sections[i],
                  "' (expected m, n, p, mstd, mmax or inc)");
    }
  }
  return options;
}

at::Tensor apply_augment_op(const at::Tensor& image, AugmentOp op, double magnitude, bool negate,
                            const RandAugmentOptions& options) {
  const double level = magnitude / kLevelDenominator;
  const double sign = negate ? -1.0 : 1.0;
  const auto resample = options.interpolation;
  switch (op) {
    case AugmentOp::AutoContrast:
      return auto_contrast(image);
    case AugmentOp::Equalize:
      return equalize(image);
    case AugmentOp::Invert:
      return invert(image);
    case AugmentOp::Rotate:
      return rotate(image, sign * level * 30.0, resample, options.fill);
    case AugmentOp::Posterize: {
      const auto bits = static_cast<int64_t>(level * 4);
      return posterize(image, options.increasing ? 4 - bits : bits);
    }
    case AugmentOp::Solarize: {
      const int64_t threshold = std::min<int64_t>(256, static_cast<int64_t>(level * 256));
      return solarize(image, options.increasing ? 256 - threshold : threshold);
    }
    case AugmentOp::SolarizeAdd:
      return solarize_add(image, std::min<int64_t>(128, static_cast<int64_t>(level * 110)), 128);
    case AugmentOp::Color:
      return adjust_color(image, enhance_factor(level, negate, options.increasing));
    case AugmentOp::Contrast:
      return adjust_contrast(image, enhance_factor(level, negate, options.increasing));
    case AugmentOp::Brightness:
      return adjust_brightness(image, enhance_factor(level, negate, options.increasing));
    case AugmentOp::Sharpness:
      return adjust_sharpness(image, enhance_factor(level, negate, options.increasing));
    case AugmentOp::ShearX:
      return affine_transform(image, {1, sign * level * 0.3, 0, 0, 1, 0}, resample, options.fill);
    case AugmentOp::ShearY:
      return affine_transform(image, {1, 0, 0, sign * level * 0.3, 1, 0}, resample, options.fill);
    case AugmentOp::TranslateXRel: {
      const double pixels = sign * level * options.translate_pct * image.size(2);
      return affine_transform(image, {1, 0, pixels, 0, 1, 0}, resample, options.fill);
    }
    case AugmentOp::TranslateYRel: {
      const double pixels = sign * level * options.translate_pct * image.size(1);
      return affine_transform(image, {1, 0, 0, 0, 1, pixels}, resample, options.fill);
    }
  }
  TORCH_CHECK(false, "apply_augment_op: unknown op ", static_cast<int>(op));
}

std::vector<AugmentStep> rand_augment_steps(Rng& rng, const RandAugmentOptions& options) {
  std::vector<AugmentStep> steps;
  for (int64_t layer = 0; layer < options.num_ops; ++layer) {
    AugmentStep step{};
    step.op = static_cast<AugmentOp>(rng.integer(0, kNumAugmentOps - 1));
    step.applied = options.probability >= 1.0 || rng.uniform() <= options.probability;
    step.magnitude = options.magnitude;
    if (std::isinf(options.magnitude_std)) {
      step.magnitude = rng.uniform(0, options.magnitude);
    } else if (options.magnitude_std > 0) {
      step.magnitude += options.magnitude_std * rng.normal();
    }
    step.magnitude = std::clamp(step.magnitude, 0.0, options.magnitude_max);
    step.negate = rng.uniform() > 0.5;
    steps.push_back(step);
  }
  return steps;
}

at::Tensor rand_augment(const at::Tensor& image, Rng& rng, const RandAugmentOptions& options) {
  auto out = image;
  for (const auto& step : rand_augment_steps(rng, options)) {
    if (step.applied) out = apply_augment_op(out, step.op, step.magnitude, step.negate, options);
  }
  return out;
}

}  // namespace lowbit::data
