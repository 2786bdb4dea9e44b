#include <lowbit/modules/detection/postprocess.h>

#include <lowbit/csrc/ops/boxes.h>

#include <torch/torch.h>

namespace lowbit::detection {

NamedTensors postprocess(const at::Tensor& logits, const at::Tensor& boxes, const at::Tensor& orig_sizes,
                         const at::Tensor& label_classes) {
  torch::NoGradGuard no_grad;
  const int64_t batch = logits.size(0);
  TORCH_CHECK(orig_sizes.dim() == 2 && orig_sizes.size(0) == batch && orig_sizes.size(1) == 2,
              "DETR postprocess: expected orig_sizes [", batch, ", 2] (height, width), got ", orig_sizes.sizes());
  const auto prob = logits.softmax(-1);
  const auto real = label_classes.defined() ? prob.index_select(-1, label_classes.to(prob.device()))
                                            : prob.narrow(-1, 0, prob.size(-1) - 1);
  auto [scores, labels] = real.max(-1);
  const auto size = orig_sizes.to(boxes.device(), boxes.scalar_type());
  const auto height = size.select(1, 0), width = size.select(1, 1);
  const auto scale = torch::stack({width, height, width, height}, 1).unsqueeze(1);  // [B, 1, 4]
  return {{"boxes", ops::box_cxcywh_to_xyxy(boxes) * scale}, {"scores", scores}, {"labels", labels}};
}

}  // namespace lowbit::detection
