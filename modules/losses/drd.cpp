#include <lowbit/modules/losses/drd.h>

#include <lowbit/csrc/ops/boxes.h>
#include <lowbit/csrc/util/hungarian.h>
#include <lowbit/csrc/util/option_error.h>
#include <lowbit/csrc/util/suggest.h>

#include <torch/torch.h>

namespace lowbit::losses {
namespace {

// What the inputs are called in error messages: argument names, or tap names.
struct InputNames {
  std::string student_features = "student_features", teacher_features = "teacher_features",
              student_boxes = "student_boxes", teacher_boxes = "teacher_boxes";
};

void check_boxes(const at::Tensor& boxes, int64_t batch, int64_t queries, const std::string& name,
                 const std::string& features) {
  TORCH_CHECK(boxes.dim() == 3 && boxes.size(0) == batch && boxes.size(1) == queries && boxes.size(2) == 4,
              "drd: ", name, " must be [B, N, 4] = [", batch, ", ", queries, ", 4] to match ", features,
              ", got shape ", boxes.sizes());
}

at::Tensor drd_loss_named(at::Tensor student_features, at::Tensor teacher_features, const at::Tensor& student_boxes,
                          const at::Tensor& teacher_boxes, const std::vector<at::Tensor>& gt_boxes,
                          const DrdOptions& options, const InputNames& names) {
  check(options);
  TORCH_CHECK(student_features.dim() == 3 || student_features.dim() == 4, "drd: ", names.student_features,
              " must be [B, N, C] or [L, B, N, C], got shape ", student_features.sizes());
  bool agree = teacher_features.dim() == student_features.dim();
  for (int64_t d = 0; agree && d < student_features.dim(); ++d) {
    agree = d == student_features.dim() - 2 || student_features.size(d) == teacher_features.size(d);
  }
  TORCH_CHECK(agree, "drd: ", names.student_features, " ", student_features.sizes(), " and ", names.teacher_features,
              " ", teacher_features.sizes(), " must agree in layers, batch and feature size (the query counts may differ)");
  if (student_features.dim() == 3) {
    student_features = student_features.unsqueeze(0);
    teacher_features = teacher_features.unsqueeze(0);
  }
  const int64_t batch = student_features.size(1);
  check_boxes(student_boxes, batch, student_features.size(2), names.student_boxes, names.student_features);
  check_boxes(teacher_boxes, batch, teacher_features.size(2), names.teacher_boxes, names.teacher_features);
  TORCH_CHECK(static_cast<int64_t>(gt_boxes.size()) == batch, "drd: gt_boxes holds ", gt_boxes.size(),
              " images, the batch has ", batch);

  std::vector<at::Tensor> student_rows, teacher_rows;  // flat indices b * N + j into [B * N, C]
  {
    torch::NoGradGuard no_grad;
    for (int64_t b = 0; b < batch; ++b) {
      const auto pairs = foreground_query_matching(student_boxes[b], teacher_boxes[b], gt_boxes[b], options);
      student_rows.push_back(pairs.student + b * student_features.size(2));
      teacher_rows.push_back(pairs.teacher + b * teacher_features.size(2));
    }
  }
  if (batch == 0) return student_features.sum();
  const auto student_index = torch::cat(student_rows).to(student_features.device());
  const auto teacher_index = torch::cat(teacher_rows).to(teacher_features.device());
  const auto student = student_features.flatten(1, 2).index_select(1, student_index);
  const auto teacher = teacher_features.detach().flatten(1, 2).index_select(1, teacher_index);
  // [L, K, C] -> L·K distances. With K = 0 the sum of the empty selection is a 0 that is still
  // connected to the student features.
  if (student_index.numel() == 0) return student.sum();
  return options.weight() * torch::linalg_vector_norm(student - teacher, 2, {-1}).mean();
}

}  // namespace

GtRule parse_gt_rule(const std::string& name) {
  return static_cast<GtRule>(util::choose("drd gt_rule", name, {"any", "all"}));
}

TeacherMatching parse_teacher_matching(const std::string& name) {
  return static_cast<TeacherMatching>(util::choose("drd matching", name, {"argmax", "hungarian"}));
}

void check(const DrdOptions& options) {
  LOWBIT_CHECK_OPTION(options.tau() >= 0 && options.tau() <= 1, "tau", "drd: tau must be in [0, 1], got ", options.tau());
  LOWBIT_CHECK_OPTION(options.weight() >= 0, "weight", "drd: weight (lambda) must be >= 0, got ", options.weight());
  LOWBIT_CHECK_OPTION(options.giou_weight() >= 0, "giou_weight", "drd: giou_weight (mu1) must be >= 0, got ", options.giou_weight());
  LOWBIT_CHECK_OPTION(options.l1_weight() >= 0, "l1_weight", "drd: l1_weight (mu2) must be >= 0, got ", options.l1_weight());
}

QueryPairs foreground_query_matching(const at::Tensor& student_boxes, const at::Tensor& teacher_boxes,
                                     const at::Tensor& gt_boxes, const DrdOptions& options) {
  check(options);
  for (const auto& [boxes, name] : {std::pair{&student_boxes, "student_boxes"}, std::pair{&teacher_boxes, "teacher_boxes"},
                                    std::pair{&gt_boxes, "gt_boxes"}}) {
    TORCH_CHECK(boxes->dim() == 2 && boxes->size(1) == 4, "drd: ", name, " of an image must be [N, 4] (cx, cy, w, h), "
                "got shape ", boxes->sizes());
  }
  torch::NoGradGuard no_grad;
  const auto long_options = student_boxes.options().dtype(torch::kLong);
  const auto none = QueryPairs{torch::empty({0}, long_options), torch::empty({0}, long_options)};
  if (gt_boxes.size(0) == 0 || student_boxes.size(0) == 0 || teacher_boxes.size(0) == 0) return none;

  const auto student_xyxy = ops::box_cxcywh_to_xyxy(student_boxes.detach());
  const auto gt_giou = ops::generalized_box_iou(ops::box_cxcywh_to_xyxy(gt_boxes.to(student_boxes.options())),
                                                student_xyxy, "drd: GIoU(gt_boxes, student_boxes)");  // [G, N]
  const auto best = std::get<0>(gt_giou.max(1, /*keepdim=*/true));                          // G_i
  const auto near = gt_giou.gt(0).logical_and(gt_giou.ge(options.tau() * best));             // [G, N]
  const auto keep = options.gt_rule() == GtRule::Any ? near.any(0) : near.all(0);
  const auto kept = keep.nonzero().select(1, 0);
  if (kept.numel() == 0) return none;

  const auto teacher = teacher_boxes.detach().to(student_boxes.options());
  const auto kept_boxes = student_boxes.detach().index_select(0, kept);
  const auto score = options.giou_weight() * ops::generalized_box_iou(ops::box_cxcywh_to_xyxy(kept_boxes),
                                                                      ops::box_cxcywh_to_xyxy(teacher),
                                                                      "drd: GIoU(student_boxes, teacher_boxes)") -
                     options.l1_weight() * torch::cdist(kept_boxes, teacher, 1);  // [K, N_T]
  if (options.matching() == TeacherMatching::Argmax) return {kept, score.argmax(1)};
  const auto assignment = util::linear_sum_assignment(-score);
  const auto rows = torch::tensor(assignment.rows, torch::kLong).to(kept.device());
  return {kept.index_select(0, rows), torch::tensor(assignment.cols, torch::kLong).to(kept.device())};
}

at::Tensor drd_loss(const at::Tensor& student_features, const at::Tensor& teacher_features,
                    const at::Tensor& student_boxes, const at::Tensor& teacher_boxes,
                    const std::vector<at::Tensor>& gt_boxes, const DrdOptions& options) {
  return drd_loss_named(student_features, teacher_features, student_boxes, teacher_boxes, gt_boxes, options, {});
}

DrdLossImpl::DrdLossImpl(DrdOptions options_) : options(std::move(options_)) {
  check(options);
  reset();
}

void DrdLossImpl::reset() {}

torch::Tensor DrdLossImpl::forward(const torch::Tensor& student_features, const torch::Tensor& teacher_features,
                                   const torch::Tensor& student_boxes, const torch::Tensor& teacher_boxes,
                                   const std::vector<torch::Tensor>& gt_boxes) {
  return drd_loss(student_features, teacher_features, student_boxes, teacher_boxes, gt_boxes, options);
}

namespace {

// The feature taps of one record, in publication order, restricted to `layers`.
std::pair<std::vector<torch::Tensor>, std::vector<std::string>> layer_features(const taps::TapRecord& record,
                                                                               const DrdOptions& options,
                                                                               const char* model) {
  const auto names = record.names(options.feature_pattern());
  TORCH_CHECK(!names.empty(), "drd: no ", model, " tap matches feature_pattern '", options.feature_pattern(), "' (",
              record.size(), " taps recorded)");
  std::vector<std::string> chosen;
  if (options.layers().empty()) chosen = names;
  for (const int64_t layer : options.layers()) {
    const int64_t count = static_cast<int64_t>(names.size());
    const int64_t index = layer < 0 ? layer + count : layer;
    TORCH_CHECK_VALUE(index >= 0 && index < count, "drd: layers holds ", layer, " but the ", model, " recorded ", count,
                      " decoder layers matching '", options.feature_pattern(), "'");
    chosen.push_back(names[index]);
  }
  std::vector<torch::Tensor> features;
  for (const auto& name : chosen) {
    const auto& tensor = record.at(name);
    TORCH_CHECK(tensor.dim() == 3, "drd: ", model, " tap '", name, "' must be [B, N, C], got shape ", tensor.sizes());
    TORCH_CHECK(features.empty() || tensor.sizes() == features.front().sizes(), "drd: ", model, " tap '", name,
                "' has shape ", tensor.sizes(), ", tap '", chosen.front(), "' has ", features.front().sizes());
    features.push_back(tensor);
  }
  return {features, chosen};
}

std::string describe(const std::vector<std::string>& taps, const char* model) {
  return std::string(model) + " taps '" + taps.front() + "'" + (taps.size() > 1 ? " .. '" + taps.back() + "'" : "");
}

}  // namespace

torch::Tensor DrdLossImpl::from_taps(const taps::TapRecord& student, const taps::TapRecord& teacher,
                                   const std::vector<torch::Tensor>& gt_boxes) {
  const auto [student_features, student_taps] = layer_features(student, options, "student");
  const auto [teacher_features, teacher_taps] = layer_features(teacher, options, "teacher");
  InputNames names;
  names.student_features = describe(student_taps, "student");
  names.teacher_features = describe(teacher_taps, "teacher");
  names.student_boxes = "student tap '" + options.boxes_tap() + "'";
  names.teacher_boxes = "teacher tap '" + options.boxes_tap() + "'";
  TORCH_CHECK(student_features.size() == teacher_features.size(), "drd: ", names.student_features, " give ",
              student_features.size(), " decoder layers, ", names.teacher_features, " give ", teacher_features.size());
  // One layer is passed as [B, N, C], so that a mismatch is reported with the taps' own shapes.
  const auto stacked = [](const std::vector<torch::Tensor>& layers) {
    return layers.size() == 1 ? layers.front() : torch::stack(layers);
  };
  return drd_loss_named(stacked(student_features), stacked(teacher_features), student.at(options.boxes_tap()),
                        teacher.at(options.boxes_tap()), gt_boxes, options, names);
}

void DrdLossImpl::pretty_print(std::ostream& stream) const {
  stream << "lowbit::losses::DrdLoss(tau=" << options.tau() << ", weight=" << options.weight() << ", gt_rule="
         << (options.gt_rule() == GtRule::Any ? "any" : "all")
         << ", matching=" << (options.matching() == TeacherMatching::Argmax ? "argmax" : "hungarian") << ")";
}

}  // namespace lowbit::losses
