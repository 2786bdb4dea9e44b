#include <lowbit/csrc/data/mixup.h>

#include <lowbit/csrc/util/option_error.h>

#include <ATen/ATen.h>

#include <cmath>

namespace lowbit::data {
namespace {

// Gamma(shape, 1). Marsaglia & Tsang: d = shape - 1/3, c = 1 / sqrt(9 d); x ~ N(0, 1), v = (1 + c x)^3,
// accept d v when v > 0 and ln u < x^2 / 2 + d - d v + d ln v.
double gamma_draw(Rng& rng, double shape) {
  if (shape < 1) return gamma_draw(rng, shape + 1) * std::pow(1.0 - rng.uniform(), 1.0 / shape);
  const double d = shape - 1.0 / 3.0, c = 1.0 / std::sqrt(9.0 * d);
  while (true) {
    const double x = rng.normal();
    const double v = std::pow(1.0 + c * x, 3);
    if (v <= 0) continue;
    const double u = 1.0 - rng.uniform();  // (0, 1]
    if (std::log(u) < 0.5 * x * x + d - d * v + d * std::log(v)) return d * v;
  }
}

int64_t clipped(int64_t value, int64_t high) { return std::min(std::max<int64_t>(value, 0), high); }

}  // namespace

void check_mixup_options(const MixupOptions& o) {
  LOWBIT_CHECK_OPTION(o.mixup_alpha() >= 0, "mixup_alpha", "mixup: mixup_alpha must be >= 0, got ", o.mixup_alpha());
  LOWBIT_CHECK_OPTION(o.cutmix_alpha() >= 0, "cutmix_alpha", "mixup: cutmix_alpha must be >= 0, got ", o.cutmix_alpha());
  LOWBIT_CHECK_OPTION(o.mixup_alpha() > 0 || o.cutmix_alpha() > 0, "mixup_alpha",
                      "mixup: mixup_alpha or cutmix_alpha must be > 0 (to mix nothing, leave mixup out)");
  LOWBIT_CHECK_OPTION(o.prob() >= 0 && o.prob() <= 1, "prob", "mixup: prob must be in [0, 1], got ", o.prob());
  LOWBIT_CHECK_OPTION(o.switch_prob() >= 0 && o.switch_prob() <= 1, "switch_prob",
                      "mixup: switch_prob must be in [0, 1], got ", o.switch_prob());
  LOWBIT_CHECK_OPTION(o.label_smoothing() >= 0 && o.label_smoothing() < 1, "label_smoothing",
                      "mixup: label_smoothing must be in [0, 1), got ", o.label_smoothing());
}

double beta_draw(Rng& rng, double a, double b) {
  TORCH_CHECK(a > 0 && b > 0, "Beta(", a, ", ", b, "): both parameters must be positive");
  const double x = gamma_draw(rng, a), y = gamma_draw(rng, b);
  return x / (x + y);
}

MixupDraw cutmix_at(double lam, int64_t height, int64_t width, int64_t center_y, int64_t center_x) {
  const double ratio = std::sqrt(1.0 - lam);
  const auto cut_h = static_cast<int64_t>(height * ratio), cut_w = static_cast<int64_t>(width * ratio);
  const int64_t top = clipped(center_y - cut_h / 2, height), bottom = clipped(center_y + (cut_h + 1) / 2, height);
  const int64_t left = clipped(center_x - cut_w / 2, width), right = clipped(center_x + (cut_w + 1) / 2, width);
  MixupDraw draw;
  draw.cutmix = true;
  draw.box = {top, left, bottom - top, right - left};
  draw.lam = 1.0 - static_cast<double>(draw.box.height * draw.box.width) / static_cast<double>(height * width);
  return draw;
}

MixupDraw draw_mixup(const MixupOptions& options, Rng& rng, int64_t height, int64_t width) {
  if (!(rng.uniform() < options.prob())) return {};
  const bool both = options.mixup_alpha() > 0 && options.cutmix_alpha() > 0;
  const bool cutmix = both ? rng.uniform() < options.switch_prob() : options.mixup_alpha() == 0;
  const double alpha = cutmix ? options.cutmix_alpha() : options.mixup_alpha();
  const double lam = beta_draw(rng, alpha, alpha);
  if (!cutmix) return {false, lam, {0, 0, 0, 0}};
  const int64_t center_y = rng.integer(0, height - 1);
  const int64_t center_x = rng.integer(0, width - 1);
  return cutmix_at(lam, height, width, center_y, center_x);
}

at::Tensor mix_images(const at::Tensor& images, const MixupDraw& draw) {
  TORCH_CHECK(images.dim() == 4 && images.is_floating_point(), "mixup: expected float images [B, C, H, W], got ",
              images.scalar_type(), " ", images.sizes());
  if (draw.lam == 1.0) return images;
  if (!draw.cutmix) return images.mul(draw.lam).add_(images.flip(0).mul_(1.0 - draw.lam));
  const auto region = [&](const at::Tensor& t) {
    return t.narrow(2, draw.box.top, draw.box.height).narrow(3, draw.box.left, draw.box.width);
  };
  auto out = images.clone();
  region(out).copy_(region(images.flip(0)));
  return out;
}

at::Tensor mix_targets(const at::Tensor& labels, int64_t num_classes, double lam, double label_smoothing) {
  TORCH_CHECK(labels.dim() == 1, "mixup: expected labels [B], got shape ", labels.sizes());
  const double off = label_smoothing / static_cast<double>(num_classes), on = 1.0 - label_smoothing + off;
  const auto one_hot = at::full({labels.size(0), num_classes}, off, at::kFloat).scatter_(1, labels.view({-1, 1}), on);
  return one_hot.mul(lam).add_(one_hot.flip(0).mul_(1.0 - lam));
}

MixedBatch mixup(const at::Tensor& images, const at::Tensor& labels, int64_t num_classes, const MixupOptions& options,
                 Rng& rng) {
  const auto draw = draw_mixup(options, rng, images.size(2), images.size(3));
  return {mix_images(images, draw), mix_targets(labels, num_classes, draw.lam, options.label_smoothing())};
}

}  // namespace lowbit::data
