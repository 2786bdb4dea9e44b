#pragma once
// `lowbit export`: a trained classification network (a models:: Sequential) as the records of a
// .lbm file (docs/export.md): a YAML description of its layers (deploy/layers.h) and their tensors.
// Binary and ternary weights go in as bit planes with one scale per output channel, multi-bit and
// offset ones (LSQ, DoReFa, AdaBin) as codes of up to 8 bits with their scales and offsets (the
// weight quantizers' export_weight, modules/quant/quantizer.h), input quantizers as their sign,
// uniform grid (uniform_grid) or AdaBin levels, batch norms as their running statistics and affine
// parameters (the runtime folds them where it fuses), the real-valued layers in float32;
// training-only state (latent weights, the weight quantizers' own state) stays behind.
//
// Supported: Sequential / Stage, QConv2d and QLinear (weights full precision, packed from a binary
// or ternary weight quantizer, codes from a grid, or any other quantizer's output in float32;
// inputs full precision, sign / rsign, on an LSQ-family grid, or adabin_act), torch::nn::Conv2d,
// Linear and LayerNorm, BatchNorm (lowbit's, torch's 1d and 2d), ReLU, Hardtanh, RPReLU, Maxout,
// MaxPool2d, AvgPool2d, AdaptiveAvgPool2d(1), Flatten, BinaryResidualUnit (identity or avgpool_conv
// / conv shortcuts; activation none, rprelu or maxout), BasicBlock, and ViT / DeiT / Swin's
// PatchEmbed, TransformerBlock (global or shifted-window attention), QAttention, QMlp, VitHeads,
// PatchMerging and ClassifierHead: the ResNets of torchvision, Bi-Real Net, ReActNet and AdaBin,
// small_cnn, vit, deit_* and swin*. Anything else throws, naming the module and its type.

#include <lowbit/csrc/deploy/lbm_format.h>
#include <lowbit/csrc/deploy/model.h>

#include <torch/nn/module.h>

#include <string>
#include <vector>

namespace lowbit::deploy {

std::vector<LbmRecord> export_network(torch::nn::Module& network, const std::string& model_name,
                                      const ModelInput& input);

// A trained network frozen for inference in this process, without a file: its export run by the
// deploy runtime (packed weights cached, batch norms folded; latent weights, quantizer state and
// optimizer state left behind). The network itself is unchanged and may go on training. A single
// layer freezes the same way, as a network of one: a QConv2d on images, a QLinear on features or
// tokens (ModelInput::features = its in_features).
//   auto frozen = lowbit::deploy::freeze(*net, "reactnet_resnet18", {});
//   at::Tensor logits = frozen.forward(images);
Model freeze(torch::nn::Module& network, const std::string& model_name, const ModelInput& input);

// Writes the file (under a temporary name, then renamed: never half-written); returns its size in bytes.
int64_t write_lbm(const std::string& path, const std::vector<LbmRecord>& records);

// Bytes of the quantized weight records as stored (payload + scales + offsets) and of the same
// weights in float32: the binary and ternary records, and the multi-bit codes.
struct PackedSizes {
  int64_t packed = 0, float32 = 0;
  int64_t codes = 0, codes_float32 = 0;
};
PackedSizes packed_sizes(const std::vector<LbmRecord>& records);

}  // namespace lowbit::deploy
