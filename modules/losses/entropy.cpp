#include <lowbit/modules/losses/entropy.h>

#include <lowbit/csrc/ops/boxes.h>
#include <lowbit/csrc/util/dtypes.h>
#include <lowbit/csrc/util/option_error.h>
#include <lowbit/csrc/util/suggest.h>

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <numeric>

namespace lowbit::losses {
namespace {

// Floor of the per-channel variance in d_c = mean² / var: a constant patch (var = 0) would give
// inf, and |inf - inf| = NaN.
constexpr double kVarianceFloor = 1e-12;

// A box on a feature map: rows [row1, row2), columns [col1, col2). Under `official` geometry the
// "rows" come from x and the "columns" from y, as in the code.
struct Cells {
  int64_t row1, row2, col1, col2;
  int64_t rows() const { return row2 - row1; }
  int64_t cols() const { return col2 - col1; }
};

// cell = round(coordinate / image side * feature side) in the boxes' precision, as the code's
// float tensor ops compute it (torch.round and std::nearbyint both round half to even), then
// clamped to [0, side].
template <typename Real>
std::vector<Cells> map_boxes_as(const at::Tensor& corners, std::array<double, 2> image_size, int64_t height,
                                int64_t width, IdaGeometry geometry) {
  const auto image_h = static_cast<Real>(image_size[0]), image_w = static_cast<Real>(image_size[1]);
  const auto cell = [](Real coordinate, Real image_side, int64_t side) {
    const Real scaled = coordinate / image_side * static_cast<Real>(side);
    return std::clamp<int64_t>(static_cast<int64_t>(std::nearbyint(scaled)), 0, side);
  };
  const Real* c = corners.data_ptr<Real>();
  std::vector<Cells> cells(corners.size(0));
  for (size_t n = 0; n < cells.size(); ++n) {
    const Real x1 = c[4 * n], y1 = c[4 * n + 1], x2 = c[4 * n + 2], y2 = c[4 * n + 3];
    cells[n] = geometry == IdaGeometry::Official
                   ? Cells{cell(x1, image_w, height), cell(x2, image_w, height), cell(y1, image_h, width), cell(y2, image_h, width)}
                   : Cells{cell(y1, image_h, height), cell(y2, image_h, height), cell(x1, image_w, width), cell(x2, image_w, width)};
  }
  return cells;
}

std::vector<Cells> map_boxes(const at::Tensor& boxes, std::array<double, 2> image_size, int64_t height, int64_t width,
                             IdaGeometry geometry) {
  const bool is_double = boxes.scalar_type() == at::kDouble;
  const auto corners = boxes.detach().to(at::kCPU, is_double ? at::kDouble : at::kFloat).contiguous();
  return is_double ? map_boxes_as<double>(corners, image_size, height, width, geometry)
                   : map_boxes_as<float>(corners, image_size, height, width, geometry);
}

void check_proposals(const at::Tensor& proposals, const char* name) {
  TORCH_CHECK(proposals.dim() == 2 && proposals.size(1) == 5, "entropy distillation: ", name,
              " of an image must be [K, 5] (x1, y1, x2, y2, score), got shape ", proposals.sizes());
}

std::array<double, 2> image_size_of(const at::Tensor& image_sizes, int64_t b) {
  const auto size = image_sizes[b].to(at::kCPU, at::kDouble).contiguous();
  const double h = size.data_ptr<double>()[0], w = size.data_ptr<double>()[1];
  TORCH_CHECK(h > 0 && w > 0, "entropy distillation: image_sizes[", b, "] = (", h, ", ", w, ") must be positive");
  return {h, w};
}

int64_t batch_of(const at::Tensor& image_sizes) {
  TORCH_CHECK(image_sizes.dim() == 2 && image_sizes.size(1) == 2,
              "entropy distillation: image_sizes must be [B, 2] (height, width), got shape ", image_sizes.sizes());
  return image_sizes.size(0);
}

void check_image_sizes(const at::Tensor& image_sizes, int64_t batch) {
  TORCH_CHECK(image_sizes.dim() == 2 && image_sizes.size(0) == batch && image_sizes.size(1) == 2,
              "entropy distillation: image_sizes must be [B, 2] = [", batch, ", 2] (height, width), got shape ",
              image_sizes.sizes());
}

void check(const EntropyDistillationOptions& o) {
  LOWBIT_CHECK_OPTION(o.levels() >= 1, "levels", "entropy distillation: levels must be >= 1, got ", o.levels());
  LOWBIT_CHECK_OPTION(o.channels() >= 1, "channels", "entropy distillation: channels must be >= 1, got ", o.channels());
  LOWBIT_CHECK_OPTION(o.score_threshold() >= 0 && o.score_threshold() <= 1, "score_threshold",
                      "entropy distillation: score_threshold must be in [0, 1], got ", o.score_threshold());
  LOWBIT_CHECK_OPTION(o.nms_iou() >= 0 && o.nms_iou() <= 1, "nms_iou", "entropy distillation: nms_iou must be in [0, 1], got ",
                    o.nms_iou());
  LOWBIT_CHECK_OPTION(o.proportion() > 0 && o.proportion() <= 1, "proportion",
                      "entropy distillation: proportion (gamma) must be in (0, 1], got ", o.proportion());
  LOWBIT_CHECK_OPTION(o.sigma_init() != 0, "sigma_init", "entropy distillation: sigma_init must be non-zero (the loss has sigma⁻²)");
  LOWBIT_CHECK_OPTION(o.log_weight() >= 0, "log_weight", "entropy distillation: log_weight must be >= 0, got ", o.log_weight());
  LOWBIT_CHECK_OPTION(o.weight() >= 0, "weight", "entropy distillation: weight (hint_neck_w) must be >= 0, got ", o.weight());
}

}  // namespace

IdaGeometry parse_ida_geometry(const std::string& name) {
  return static_cast<IdaGeometry>(util::choose("ida geometry", name, {"official", "fixed"}));
}

at::Tensor ida_pair_boxes(const at::Tensor& student_proposals, const at::Tensor& teacher_proposals,
                          double score_threshold, double nms_iou) {
  check_proposals(student_proposals, "student proposals");
  check_proposals(teacher_proposals, "teacher proposals");
  torch::NoGradGuard no_grad;
  std::vector<at::Tensor> kept;
  for (const auto& proposals : {teacher_proposals, student_proposals}) {
    const auto confident = proposals.detach().index_select(0, proposals.select(1, 4).gt(score_threshold).nonzero().select(1, 0));
    const auto boxes = confident.slice(1, 0, 4);
    kept.push_back(boxes.index_select(0, ops::nms(boxes, confident.select(1, 4), nms_iou)));
  }
  return torch::cat({kept[0], kept[1].to(kept[0].dtype())});
}

namespace {

// eps of every box (as cells) for one image and level, in double. Teacher and student patches go
// through the softmax together, and the values reach the CPU in one transfer.
std::vector<double> discrepancy(const at::Tensor& teacher_map, const at::Tensor& student_map,
                                const std::vector<Cells>& cells, IdaGeometry geometry) {
  torch::NoGradGuard no_grad;
  const auto dtype = teacher_map.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  const int64_t channels = teacher_map.size(0);
  std::vector<size_t> computed;
  std::vector<at::Tensor> sums;
  for (size_t n = 0; n < cells.size(); ++n) {
    const auto& cell = cells[n];
    const int64_t ph = cell.rows(), pw = cell.cols();
    if (ph <= 1 || pw <= 1) continue;
    const auto patch = [&](const at::Tensor& map) {
      return map.detach().slice(1, cell.row1, cell.row2).slice(2, cell.col1, cell.col2);
    };
    const auto p = torch::stack({patch(teacher_map), patch(student_map)}).reshape({2, channels, ph * pw}).to(dtype).softmax(2);
    const auto information = p.mean(2).square() / p.var(2, /*unbiased=*/true).clamp_min(kVarianceFloor);  // [2, C]
    sums.push_back((information[0] - information[1]).abs().sum());
    computed.push_back(n);
  }
  std::vector<double> eps(cells.size(), 0.0);
  if (sums.empty()) return eps;
  const auto values = torch::stack(sums).to(at::kCPU, at::kDouble).contiguous();
  for (size_t k = 0; k < computed.size(); ++k) {
    const auto& cell = cells[computed[k]];
    const double sum = values.data_ptr<double>()[k], ph = cell.rows(), pw = cell.cols();
    eps[computed[k]] = geometry == IdaGeometry::Official ? sum / ph * pw : sum / (ph * pw);
  }
  return eps;
}

void check_maps(const at::Tensor& teacher_map, const at::Tensor& student_map, int64_t dims, const char* shape) {
  TORCH_CHECK(teacher_map.dim() == dims && teacher_map.sizes() == student_map.sizes(), "entropy distillation: teacher map ",
              teacher_map.sizes(), " and student map ", student_map.sizes(), " must be one shape ", shape);
}

void check_boxes(const at::Tensor& boxes) {
  TORCH_CHECK(boxes.dim() == 2 && boxes.size(1) == 4,
              "entropy distillation: boxes must be [N, 4] (x1, y1, x2, y2), got shape ", boxes.sizes());
}

}  // namespace

at::Tensor ida_discrepancy(const at::Tensor& teacher_map, const at::Tensor& student_map, const at::Tensor& boxes,
                           std::array<double, 2> image_size, IdaGeometry geometry) {
  check_maps(teacher_map, student_map, 3, "[C, H, W]");
  check_boxes(boxes);
  const auto cells = map_boxes(boxes, image_size, teacher_map.size(1), teacher_map.size(2), geometry);
  const auto dtype = teacher_map.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  return torch::tensor(discrepancy(teacher_map, student_map, cells, geometry), torch::kDouble).to(dtype);
}

std::vector<int64_t> ida_select(const std::vector<double>& eps, double proportion) {
  const int64_t count = static_cast<int64_t>(eps.size());
  // Python's round(0.6 * N): half to even, as std::nearbyint in the default rounding mode.
  const auto keep = std::clamp<int64_t>(static_cast<int64_t>(std::nearbyint(proportion * count)), 0, count);
  std::vector<int64_t> order(count);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t i, int64_t j) { return eps[i] > eps[j]; });
  order.resize(static_cast<size_t>(keep));
  return order;
}

at::Tensor ida_mask(const at::Tensor& teacher_map, const at::Tensor& student_map, const std::vector<at::Tensor>& boxes,
                    const at::Tensor& image_sizes, double proportion, IdaGeometry geometry) {
  check_maps(teacher_map, student_map, 4, "[B, C, H, W]");
  const int64_t batch = teacher_map.size(0), height = teacher_map.size(2), width = teacher_map.size(3);
  TORCH_CHECK(static_cast<int64_t>(boxes.size()) == batch, "entropy distillation: boxes holds ", boxes.size(),
              " images, the maps ", batch);
  check_image_sizes(image_sizes, batch);
  TORCH_CHECK_VALUE(proportion > 0 && proportion <= 1, "entropy distillation: proportion must be in (0, 1], got ",
                    proportion);
  auto mask = torch::zeros({batch, height, width});
  for (int64_t b = 0; b < batch; ++b) {
    check_boxes(boxes[b]);
    const auto cells = map_boxes(boxes[b], image_size_of(image_sizes, b), height, width, geometry);
    const auto kept = ida_select(discrepancy(teacher_map[b], student_map[b], cells, geometry), proportion);
    auto image_mask = mask[b];
    for (const int64_t index : kept) {
      const auto& cell = cells[static_cast<size_t>(index)];
      if (geometry == IdaGeometry::Fixed) {
        if (cell.rows() > 0 && cell.cols() > 0) image_mask.slice(0, cell.row1, cell.row2).slice(1, cell.col1, cell.col2).fill_(1);
        continue;
      }
      // mask[b, x1:x2] = 1; mask[b, y1:y2] = 1 (row bands; y's cells index rows too, clipped).
      if (cell.rows() > 0) image_mask.slice(0, cell.row1, cell.row2).fill_(1);
      const int64_t band1 = std::min(cell.col1, height), band2 = std::min(cell.col2, height);
      if (band2 > band1) image_mask.slice(0, band1, band2).fill_(1);
    }
  }
  return mask.to(teacher_map.options());
}

at::Tensor entropy_loss(const at::Tensor& teacher_map, const at::Tensor& adapted_student, const at::Tensor& mask,
                        const at::Tensor& sigma, double log_weight) {
  TORCH_CHECK(teacher_map.sizes() == adapted_student.sizes(), "entropy_loss: teacher map ", teacher_map.sizes(),
              " and adapted student map ", adapted_student.sizes(), " differ in shape");
  TORCH_CHECK(sigma.numel() == 1, "entropy_loss: sigma must hold one value, got shape ", sigma.sizes());
  TORCH_CHECK_VALUE(log_weight >= 0, "entropy_loss: log_weight must be >= 0, got ", log_weight);
  auto m = mask.detach().to(adapted_student.scalar_type());
  if (m.dim() == teacher_map.dim() - 1) m = m.unsqueeze(1);  // [B, H, W] -> [B, 1, H, W]
  bool broadcasts = m.dim() == teacher_map.dim();
  for (int64_t d = 0; broadcasts && d < m.dim(); ++d) broadcasts = m.size(d) == 1 || m.size(d) == teacher_map.size(d);
  TORCH_CHECK(broadcasts, "entropy_loss: mask ", mask.sizes(), " does not broadcast to the maps ", teacher_map.sizes());
  const auto s = sigma.reshape({});
  // In float at least: under autocast the maps may be float16, whose squares overflow past 256.
  const auto squared = (util::at_least_float(teacher_map.detach()) - util::at_least_float(adapted_student)).square();
  const auto count = m.expand(teacher_map.sizes()).sum().clamp_min(1);
  const auto masked = (m * squared).sum() * (1 + s.pow(-2));
  const auto log_term = log_weight * static_cast<double>(teacher_map.numel()) * torch::log(s.square());
  return (masked + log_term) / count;
}

EntropyDistillationImpl::EntropyDistillationImpl(EntropyDistillationOptions options_) : options(std::move(options_)) {
  check(options);
  reset();
}

void EntropyDistillationImpl::reset() {
  sigma = register_parameter("sigma", torch::full({1, 1, 1, 1}, options.sigma_init()));
  neck_adapt = register_module("neck_adapt", torch::nn::ModuleList());
  if (!options.adapt()) return;
  for (int64_t l = 0; l < options.levels(); ++l) {
    torch::nn::Conv2d conv(torch::nn::Conv2dOptions(options.channels(), options.channels(), 3).padding(1));
    {
      // two_stage_kd.py init_weights: weight.normal_().fmod_(2).mul_(0.0001); the bias keeps
      // Conv2d's default uniform(±1/sqrt(fan_in)).
      torch::NoGradGuard no_grad;
      conv->weight.normal_().fmod_(2).mul_(1e-4);
    }
    neck_adapt->push_back(torch::nn::Sequential(conv));
  }
}

namespace {

// Level names for error messages: taps, or argument positions.
std::string level_name(const std::vector<std::string>& names, size_t l, const char* model) {
  return names.empty() ? std::string(model) + "_maps[" + std::to_string(l) + "]"
                       : std::string(model) + " tap '" + names[l] + "'";
}

torch::Tensor distill(EntropyDistillationImpl& self, const std::vector<torch::Tensor>& student_maps,
                      const std::vector<torch::Tensor>& teacher_maps, const std::vector<torch::Tensor>& student_proposals,
                      const std::vector<torch::Tensor>& teacher_proposals, const torch::Tensor& image_sizes,
                      const std::vector<std::string>& student_names, const std::vector<std::string>& teacher_names) {
  const auto& o = self.options;
  check(o);
  TORCH_CHECK(static_cast<int64_t>(student_maps.size()) == o.levels() &&
                  static_cast<int64_t>(teacher_maps.size()) == o.levels(),
              "entropy distillation: expected ", o.levels(), " levels, got ", student_maps.size(), " student and ",
              teacher_maps.size(), " teacher maps");
  const int64_t batch = batch_of(image_sizes);
  TORCH_CHECK(static_cast<int64_t>(student_proposals.size()) == batch &&
                  static_cast<int64_t>(teacher_proposals.size()) == batch,
              "entropy distillation: expected proposals of ", batch, " images (image_sizes), got ",
              student_proposals.size(), " student and ", teacher_proposals.size(), " teacher");
  std::vector<torch::Tensor> boxes;
  for (int64_t b = 0; b < batch; ++b) {
    boxes.push_back(ida_pair_boxes(student_proposals[b], teacher_proposals[b], o.score_threshold(), o.nms_iou()));
  }
  torch::Tensor total;
  for (int64_t l = 0; l < o.levels(); ++l) {
    const auto &student = student_maps[l], &teacher = teacher_maps[l];
    const auto student_name = level_name(student_names, l, "student"), teacher_name = level_name(teacher_names, l, "teacher");
    TORCH_CHECK(student.dim() == 4 && student.sizes() == teacher.sizes() && student.size(0) == batch,
                "entropy distillation: ", student_name, " ", student.sizes(), " and ", teacher_name, " ",
                teacher.sizes(), " must be one shape [B, C, H, W] with B = ", batch, " (image_sizes)");
    TORCH_CHECK(!o.adapt() || student.size(1) == o.channels(), "entropy distillation: ", student_name, " ",
                student.sizes(), " has ", student.size(1), " channels, the adapters ", o.channels());
    const auto mask = ida_mask(teacher, student, boxes, image_sizes, o.proportion(), o.geometry());
    const auto adapted = o.adapt() ? self.neck_adapt[l]->as<torch::nn::Sequential>()->forward(student) : student;
    const auto level = entropy_loss(teacher, adapted, mask, self.sigma, o.log_weight());
    total = total.defined() ? total + level : level;
  }
  return o.weight() * total / static_cast<double>(o.levels());
}

}  // namespace

torch::Tensor EntropyDistillationImpl::forward(const std::vector<torch::Tensor>& student_maps,
                                               const std::vector<torch::Tensor>& teacher_maps,
                                               const std::vector<torch::Tensor>& student_proposals,
                                               const std::vector<torch::Tensor>& teacher_proposals,
                                               const torch::Tensor& image_sizes) {
  return distill(*this, student_maps, teacher_maps, student_proposals, teacher_proposals, image_sizes, {}, {});
}

namespace {

// The [K, 6] (batch index, x1, y1, x2, y2, score) proposals of a batch -> B tensors [K_b, 5].
std::vector<torch::Tensor> split_by_image(const torch::Tensor& proposals, int64_t batch, const std::string& name) {
  TORCH_CHECK(proposals.dim() == 2 && proposals.size(1) == 6, "entropy distillation: ", name,
              " must be [K, 6] (batch index, x1, y1, x2, y2, score), got shape ", proposals.sizes());
  const auto image = proposals.select(1, 0).detach().round().to(torch::kLong);
  TORCH_CHECK(proposals.size(0) == 0 || (image.min().item<int64_t>() >= 0 && image.max().item<int64_t>() < batch),
              "entropy distillation: ", name, " has a batch index outside [0, ", batch, ")");
  std::vector<torch::Tensor> per_image;
  for (int64_t b = 0; b < batch; ++b) {
    per_image.push_back(proposals.index_select(0, image.eq(b).nonzero().select(1, 0)).slice(1, 1, 6));
  }
  return per_image;
}

std::pair<std::vector<torch::Tensor>, std::vector<std::string>> level_maps(const taps::TapRecord& record,
                                                                           const EntropyDistillationOptions& o,
                                                                           const char* model) {
  const auto names = record.names(o.feature_pattern());
  TORCH_CHECK(static_cast<int64_t>(names.size()) == o.levels(), "entropy distillation: ", names.size(), " ", model,
              " taps match feature_pattern '", o.feature_pattern(), "', expected ", o.levels(), " levels (", record.size(),
              " taps recorded)");
  std::vector<torch::Tensor> maps;
  for (const auto& name : names) maps.push_back(record.at(name));
  return {maps, names};
}

}  // namespace

torch::Tensor EntropyDistillationImpl::from_taps(const taps::TapRecord& student, const taps::TapRecord& teacher,
                                               const torch::Tensor& image_sizes) {
  const int64_t batch = batch_of(image_sizes);
  const auto [student_maps, student_names] = level_maps(student, options, "student");
  const auto [teacher_maps, teacher_names] = level_maps(teacher, options, "teacher");
  const auto& tap = options.proposals_tap();
  return distill(*this, student_maps, teacher_maps, split_by_image(student.at(tap), batch, "student tap '" + tap + "'"),
                 split_by_image(teacher.at(tap), batch, "teacher tap '" + tap + "'"), image_sizes, student_names,
                 teacher_names);
}

void EntropyDistillationImpl::pretty_print(std::ostream& stream) const {
  stream << "lowbit::losses::EntropyDistillation(levels=" << options.levels() << ", channels=" << options.channels()
         << ", adapt=" << (options.adapt() ? "true" : "false") << ", geometry="
         << (options.geometry() == IdaGeometry::Official ? "official" : "fixed") << ", weight=" << options.weight() << ")";
}

}  // namespace lowbit::losses
