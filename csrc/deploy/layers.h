#pragma once
// The layers of a deployed network (docs/export.md "Layers"): what `lowbit::deploy::Model` runs,
// built from the description in a .lbm file and its tensor records. Activations are float32
// [N, C, H, W] tensors in channels-last memory (the binary kernels' layout, read in place),
// [N, F] after `flatten`, or tokens [B, N, D] in a transformer.
//
//   conv2d     y = conv2d(q(x), W) + b, q the input's quantizer (float, sign(x + input_shift) or a
//              uniform grid: layer_parts.h InputQuantizer); a binary W with a sign input runs on
//              the packed kernels (kernels/binary_conv.h), the integer sums times W's scales
//   linear     y = q(x) W^T + b, likewise (kernels/binary_gemm.h), on [N, F] or tokens [B, N, F]
//   affine     y = x scale_c + shift_c (a batch norm, folded)
//   relu, hardtanh, rprelu (ReActNet: y = PReLU_slope(x + gamma_c) + offset_c), max_pool2d, avg_pool2d,
//   global_avg_pool, flatten
//   residual   y = after(body(x) + shortcut(x)) (shortcut empty: x); a body [binary conv2d,
//              affine] with after [] or [rprelu] runs as one kernels::binary_conv2d_epilogue,
//              which also packs the output's signs when the next layer is such a residual
//
//   tokens, layer_norm, gelu, attention, vit_heads: a vision transformer's (transformer_layers.cpp)
//
// sign(0) = 0 as the training graph's sign (csrc/ops/ste.h), except in a packed convolution,
// whose code has two values: there x + input_shift = 0 counts as +1 (a packed linear takes an
// input holding a 0 as ternary planes). Such exact zeros are where a deployed output can differ
// from the training graph's beyond rounding.

#include <lowbit/csrc/deploy/lbm_format.h>

#include <ATen/core/Tensor.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace YAML {
class Node;
}

namespace lowbit::deploy {

// What flows from layer to layer: the values and, where the layer before made them on the way
// (a fused residual unit followed by another), their packed signs for the next packed
// convolution, `pixels_for`.
struct Activation {
  at::Tensor values;
  at::Tensor pixels{};
  const void* pixels_for = nullptr;
};

class Layer {
 public:
  virtual ~Layer() = default;
  virtual at::Tensor run(const at::Tensor& x) const = 0;
  // run() on the values; the layers that take or make packed signs override it.
  virtual Activation forward(const Activation& x) const { return {run(x.values)}; }
};
using Layers = std::vector<std::unique_ptr<Layer>>;

// The tensor records of a file by name (codes records as the float32 values they give: the layers
// run multi-bit weights in float32), and which of them the layers used.
class Records {
 public:
  Records(std::vector<LbmRecord> records, std::string source);
  // The record `name`; throws LbmError naming the source, the layer and the record when absent
  // or of another kind / shape than `what` says.
  const LbmRecord& get(const std::string& name, const std::string& layer) const;
  const LbmRecord* find(const std::string& name) const;
  // Float32 records as tensors: `name` with `numel` values (-1: any), viewed as its dims.
  at::Tensor floats(const std::string& name, const std::string& layer, int64_t numel = -1) const;
  const std::string& source() const { return source_; }
  // Throws naming the first record no layer read (a file whose description misses a layer).
  void check_all_used() const;

  // How the layers built from these records run float convolutions: channels-last with a
  // following batch norm folded in (the default: the packed kernels' layout, one pass less), or as
  // the NCHW training graph runs them, the batch norm apart: for networks with activations on
  // uniform grids, which round last-bit differences into other codes (docs/export.md, Exactness).
  bool float_convs_as_trained() const { return float_convs_as_trained_; }
  void set_float_convs_as_trained(bool as_trained) { float_convs_as_trained_ = as_trained; }

 private:
  std::map<std::string, LbmRecord> records_;
  mutable std::map<std::string, bool> used_;
  std::string source_;
  bool float_convs_as_trained_ = false;
};

// The layers of a description's list (`layers:` and a residual's `body:` / `shortcut:` /
// `after:`), `where` naming the list in errors ("model.lbm: layers[3] (layer1.0)").
Layers make_layers(const YAML::Node& list, const Records& records, const std::string& where);

// Runs `layers` in order.
at::Tensor run_layers(const Layers& layers, const at::Tensor& x);

}  // namespace lowbit::deploy
