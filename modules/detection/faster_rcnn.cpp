#include <lowbit/modules/detection/faster_rcnn.h>

#include <lowbit/csrc/ops/boxes.h>
#include <lowbit/modules/taps/taps.h>

#include <torch/torch.h>

namespace lowbit::detection {
namespace {

const torch::Tensor& named(const NamedTensors& outputs, const std::string& name) {
  const auto it = outputs.find(name);
  TORCH_CHECK(it != outputs.end(), "FasterRCNN: the outputs have no '", name, "' (not this detector's forward?)");
  return it->second;
}

// outputs "<prefix>0" .. "<prefix><count - 1>".
std::vector<torch::Tensor> levels_of(const NamedTensors& outputs, const std::string& prefix, int64_t count) {
  std::vector<torch::Tensor> levels;
  for (int64_t l = 0; l < count; ++l) levels.push_back(named(outputs, prefix + std::to_string(l)));
  return levels;
}

std::vector<ImageSize> image_sizes_of(const NamedTensors& outputs) {
  const auto sizes = named(outputs, "image_sizes").cpu();
  std::vector<ImageSize> result;
  for (int64_t i = 0; i < sizes.size(0); ++i) result.emplace_back(sizes[i][0].item<int64_t>(), sizes[i][1].item<int64_t>());
  return result;
}

// "proposals" [K, 6] back into per-image [K_i, 5] (x1, y1, x2, y2, objectness).
std::vector<torch::Tensor> proposals_of(const NamedTensors& outputs, int64_t images) {
  const auto& all = named(outputs, "proposals");
  const auto counts = torch::bincount(all.select(1, 0).to(torch::kLong), {}, images).cpu();
  std::vector<int64_t> sizes(counts.data_ptr<int64_t>(), counts.data_ptr<int64_t>() + images);
  return all.slice(1, 1).split_with_sizes(sizes);
}

int64_t round_up(int64_t value, int64_t divisor) { return (value + divisor - 1) / divisor * divisor; }

}  // namespace

FasterRCNNImpl::FasterRCNNImpl(ResNetFeatures backbone_, FasterRCNNOptions options_)
    : options(std::move(options_)), backbone(std::move(backbone_)) {
  TORCH_CHECK_VALUE(options.size_divisor() >= 1, "FasterRCNN: size_divisor must be >= 1, got ", options.size_divisor());
  TORCH_CHECK_VALUE(static_cast<int64_t>(options.neck().in_channels().size()) == backbone->stages(),
                    "FasterRCNN: the neck takes ", options.neck().in_channels().size(), " levels but the backbone has ",
                    backbone->stages(), " stages");
  register_module("backbone", backbone);
  neck = register_module("neck", FPN(options.neck()));
  rpn_head = register_module("rpn_head", RPNHead(options.rpn_head()));
  roi_head = register_module("roi_head", RoIHead(options.roi_head()));
}

NamedTensors FasterRCNNImpl::forward(const torch::Tensor& images, const torch::Tensor& mask) {
  check_images_and_mask(images, mask, "FasterRCNN");
  // Padding is at the bottom and right: the height is column 0's unpadded rows, the width row 0's.
  const auto inside = mask.logical_not();
  const auto sizes = torch::stack({inside.select(2, 0).sum(1), inside.select(1, 0).sum(1)}, 1).to(torch::kLong);
  NamedTensors out{{"image_sizes", sizes}};
  const auto features = neck(backbone(images));
  const auto rpn = rpn_head(features);
  for (size_t l = 0; l < features.size(); ++l) {
    const auto level = std::to_string(l);
    out["features." + level] = features[l];
    out["rpn_objectness." + level] = rpn.objectness[l];
    out["rpn_deltas." + level] = rpn.deltas[l];
  }
  const auto per_image = rpn_head->proposals(rpn, image_sizes_of(out));
  std::vector<torch::Tensor> scores;
  for (const auto& p : per_image) scores.push_back(p.slice(1, 4));
  out["proposals"] = torch::cat({rois_of(per_image), torch::cat(scores)}, 1);
  taps::publish(*rpn_head, "proposals", out["proposals"]);
  return out;
}

NamedLosses FasterRCNNImpl::loss(const NamedTensors& outputs, const std::vector<NamedTensors>& targets) {
  const auto sizes = image_sizes_of(outputs);
  TORCH_CHECK(targets.size() == sizes.size(), "FasterRCNN::loss: ", targets.size(), " targets for ", sizes.size(),
              " images");
  const auto levels = options.neck().outs();
  const auto features = levels_of(outputs, "features.", levels);
  std::vector<torch::Tensor> gt_boxes, gt_labels;
  std::vector<ImageSize> valid_sizes;
  for (size_t i = 0; i < targets.size(); ++i) {
    const auto boxes = targets[i].find("boxes"), labels = targets[i].find("labels");
    TORCH_CHECK(boxes != targets[i].end() && labels != targets[i].end(), "FasterRCNN::loss: target ", i,
                " needs \"boxes\" and \"labels\"");
    TORCH_CHECK(boxes->second.dim() == 2 && boxes->second.size(1) == 4 && labels->second.dim() == 1 &&
                    labels->second.size(0) == boxes->second.size(0),
                "FasterRCNN::loss: target ", i, ": expected boxes [G, 4] and labels [G], got ", boxes->second.sizes(),
                " and ", labels->second.sizes());
    const auto [height, width] = sizes[i];
    const auto scale = torch::tensor({double(width), double(height), double(width), double(height)},
                                     features.front().options().dtype(torch::kFloat));
    gt_boxes.push_back(ops::box_cxcywh_to_xyxy(boxes->second.to(scale.options())) * scale);
    gt_labels.push_back(labels->second.to(features.front().device(), torch::kLong));
    valid_sizes.emplace_back(round_up(height, options.size_divisor()), round_up(width, options.size_divisor()));
  }
  RPNOutputs rpn{levels_of(outputs, "rpn_objectness.", levels), levels_of(outputs, "rpn_deltas.", levels)};
  auto [rpn_cls, rpn_box] = rpn_head->loss(rpn, valid_sizes, gt_boxes);
  auto [cls, box] = roi_head->loss(features, proposals_of(outputs, static_cast<int64_t>(sizes.size())), gt_boxes,
                                   gt_labels);
  return {{"rpn_cls", rpn_cls}, {"rpn_bbox", rpn_box}, {"cls", cls}, {"bbox", box}};
}

NamedTensors FasterRCNNImpl::postprocess(const NamedTensors& outputs, const torch::Tensor& orig_sizes) {
  const auto sizes = image_sizes_of(outputs);
  const auto count = static_cast<int64_t>(sizes.size());
  TORCH_CHECK(orig_sizes.dim() == 2 && orig_sizes.size(0) == count && orig_sizes.size(1) == 2,
              "FasterRCNN::postprocess: expected orig_sizes [", count, ", 2], got ", orig_sizes.sizes());
  const auto features = levels_of(outputs, "features.", options.neck().outs());
  const auto detections = roi_head->detect(features, proposals_of(outputs, count), sizes);
  int64_t most = 0;
  for (const auto& d : detections) most = std::max(most, d.boxes.size(0));
  const auto float_options = features.front().options().dtype(torch::kFloat);
  auto boxes = torch::zeros({count, most, 4}, float_options), scores = torch::zeros({count, most}, float_options);
  auto labels = torch::full({count, most}, -1, float_options.dtype(torch::kLong));
  const auto original = orig_sizes.to(torch::kCPU, torch::kDouble);
  for (int64_t i = 0; i < count; ++i) {
    const auto& d = detections[static_cast<size_t>(i)];
    const int64_t n = d.boxes.size(0);
    if (n == 0) continue;
    const double sx = original[i][1].item<double>() / double(sizes[i].second);
    const double sy = original[i][0].item<double>() / double(sizes[i].first);
    boxes[i].narrow(0, 0, n).copy_(d.boxes * torch::tensor({sx, sy, sx, sy}, float_options));
    scores[i].narrow(0, 0, n).copy_(d.scores);
    labels[i].narrow(0, 0, n).copy_(d.labels);
  }
  return {{"boxes", boxes}, {"scores", scores}, {"labels", labels}};
}

}  // namespace lowbit::detection
