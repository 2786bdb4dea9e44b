#pragma once
// lowbit: low-bit and binary neural networks for LibTorch. The one header a program needs
// (it brings <torch/torch.h> along).

#include <lowbit/config.h>

#include <torch/torch.h>

#include <lowbit/csrc/ops/bilinear_sign.h>
#include <lowbit/csrc/ops/boxes.h>
#include <lowbit/csrc/ops/dorefa.h>
#include <lowbit/csrc/ops/ede_sign.h>
#include <lowbit/csrc/ops/lsq.h>
#include <lowbit/csrc/ops/scaled_sign.h>
#include <lowbit/csrc/ops/shifted_sign.h>
#include <lowbit/csrc/ops/sign.h>
#include <lowbit/csrc/ops/kept_operands.h>
#include <lowbit/csrc/ops/ternarize.h>
#include <lowbit/csrc/util/hungarian.h>

// Detection evaluation (COCO bbox as pycocotools, PASCAL VOC AP50).
#include <lowbit/csrc/eval/coco_eval.h>
#include <lowbit/csrc/eval/coco_json.h>
#include <lowbit/csrc/eval/voc_eval.h>

#include <lowbit/modules/quant/adabin.h>
#include <lowbit/modules/quant/dorefa.h>
#include <lowbit/modules/quant/identity.h>
#include <lowbit/modules/quant/idadet.h>
#include <lowbit/modules/quant/lsq.h>
#include <lowbit/modules/quant/qvit_act.h>
#include <lowbit/modules/quant/rbonn.h>
#include <lowbit/modules/quant/rebnn.h>
#include <lowbit/modules/quant/registry.h>
#include <lowbit/modules/quant/rsign.h>
#include <lowbit/modules/quant/sign.h>
#include <lowbit/modules/quant/ternary.h>
#include <lowbit/modules/quant/xnor.h>

#include <lowbit/modules/layers/activation.h>
#include <lowbit/modules/layers/basic_block.h>
#include <lowbit/modules/layers/batch_norm.h>
#include <lowbit/modules/layers/binary_residual_unit.h>
#include <lowbit/modules/layers/distribution_alignment.h>
#include <lowbit/modules/layers/maxout.h>
#include <lowbit/modules/layers/qattention.h>
#include <lowbit/modules/layers/qconv2d.h>
#include <lowbit/modules/layers/qlinear.h>
#include <lowbit/modules/layers/rprelu.h>
#include <lowbit/modules/layers/stage.h>
#include <lowbit/modules/layers/transformer.h>

#include <lowbit/modules/models/quant_policy.h>
#include <lowbit/modules/models/registry.h>

#include <lowbit/modules/detection/detector.h>
#include <lowbit/modules/detection/registry.h>

#include <lowbit/modules/hooks/replicas.h>
#include <lowbit/modules/hooks/training_hooks.h>
#include <lowbit/modules/taps/taps.h>

#include <lowbit/modules/losses/dgd.h>
#include <lowbit/modules/losses/drd.h>
#include <lowbit/modules/losses/entropy.h>
#include <lowbit/modules/losses/kd.h>
#include <lowbit/modules/losses/ranking.h>

// Deployment: export to the packed .lbm format and its runtime on the bit kernels (docs/export.md).
#include <lowbit/csrc/deploy/export.h>
#include <lowbit/csrc/deploy/model.h>

// The training engine: recipes, the Runner and its hooks, tasks and the model contract, loss
// terms and the Distiller, metrics, data sets (docs/architecture.md, docs/extending.md).
#include <lowbit/csrc/engine/build.h>
#include <lowbit/csrc/engine/checkpoint/checkpoint.h>
#include <lowbit/csrc/engine/datasets/dataset.h>
#include <lowbit/csrc/engine/datasets/decoding_threads.h>
#include <lowbit/csrc/engine/datasets/device_prefetch.h>
#include <lowbit/csrc/engine/dist/data_parallel.h>
#include <lowbit/csrc/engine/dist/environment.h>
#include <lowbit/csrc/engine/dist/launch.h>
#include <lowbit/csrc/engine/dist/process_group.h>
#include <lowbit/csrc/engine/loop/runner.h>
#include <lowbit/csrc/engine/metrics/metric.h>
#include <lowbit/csrc/engine/objective/distiller.h>
#include <lowbit/csrc/engine/objective/loss_term.h>
#include <lowbit/csrc/engine/recipe/recipe.h>
#include <lowbit/csrc/engine/task/classification.h>
#include <lowbit/csrc/engine/task/channels_last.h>
#include <lowbit/csrc/engine/task/classifier.h>
#include <lowbit/csrc/engine/task/detection.h>
#include <lowbit/csrc/engine/task/detector_model.h>
#include <lowbit/csrc/engine/train.h>

namespace lowbit {

// Whether this build of lowbit dispatches CUDA tensors to its CUDA kernels (LOWBIT_WITH_CUDA).
constexpr bool built_with_cuda() {
#ifdef LOWBIT_WITH_CUDA
  return true;
#else
  return false;
#endif
}

}  // namespace lowbit
