#pragma once
// Per-layer accounting of a model (`lowbit summary`): kind, bits of weights and inputs,
// parameters, multiply-accumulates split into binary (1-bit weights and 1-bit inputs) and
// others, and memory. A layer's memory is its own parameters in fp32 and bit-packed (each weight
// at its quantizer's bits, biases and norms at 4 bytes); the quantizers' parameters (steps, zero
// points, scales) are listed apart at 4 bytes: at deployment they fold into the kernels' scales,
// and the papers' model sizes (TerViT's 13.1 MB Swin-S) leave them out. Totals include
// OPs = BOPs/64 + FLOPs, the convention of Bi-Real Net, ReActNet, AdaBin and Bi-ViT (a binary
// MAC counts 1/64).
// One row per child of the model's Sequential; a child that holds QConv2d / QLinear layers (a
// residual block, a stage) is followed by one detail row per such layer, named by its path
// (`layer2.0.conv`), whose MACs and memory the child's row sums. Nested layers are found through
// the "output" tap they publish; a plain torch::nn::Conv2d / Linear is counted only at the top.
// Detectors: one row per part (backbone, neck, rpn_head, roi_head), their layers as details.

#include <torch/nn/modules/container/sequential.h>

#include <functional>
#include <ostream>
#include <string>
#include <vector>

namespace lowbit::engine {

struct LayerSummary {
  std::string name, kind;
  int64_t weight_bits = 32, input_bits = 32;
  int64_t params = 0;  // every parameter, the quantizers' included
  int64_t binary_macs = 0, other_macs = 0;  // per image
  int64_t fp32_bytes = 0, packed_bytes = 0;  // the layer's own parameters
  int64_t quantizer_bytes = 0;               // its quantizers' parameters, fp32
  bool detail = false;  // a layer inside the preceding top-level row, not added to the total
};

struct ModelSummary {
  std::vector<LayerSummary> layers;
  LayerSummary total;
  double ops() const { return static_cast<double>(total.binary_macs) / 64 + static_cast<double>(total.other_macs); }
};

// Runs `example` (one image, [1, C, H, W]) through the model layer by layer to find every
// layer's input and output shapes.
ModelSummary summarize(torch::nn::Sequential& model, const torch::Tensor& example);

// A model that is not a chain (a detector): `forward` runs one image through `model` (for a
// detector, its prediction: backbone, neck, RPN and the RoI head on the image's proposals); one row
// per child of `model`, the sum of the QConv2d / QLinear layers inside it, each a detail row.
ModelSummary summarize(torch::nn::Module& model, const std::function<void()>& forward);

void print_summary(const ModelSummary& summary, std::ostream& out);

}  // namespace lowbit::engine
