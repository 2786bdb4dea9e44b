#pragma once
// What the deploy layers share (layers.cpp, transformer_layers.cpp): typed fields of a layer's
// description with errors naming the layer, and the quantizer of a layer's input.

#include <lowbit/csrc/deploy/layers.h>
#include <lowbit/csrc/kernels/lsq.h>

#include <yaml-cpp/yaml.h>

#include <array>
#include <memory>
#include <string>

namespace lowbit::deploy {

[[noreturn]] void fail(const std::string& where, const std::string& message);

// Typed fields of one layer's description, every error naming the layer.
struct Fields {
  YAML::Node node;  // a handle: copies share the node
  std::string where;

  YAML::Node at(const std::string& key) const;
  template <typename T>
  T get(const std::string& key) const {
    try {
      return at(key).as<T>();
    } catch (const YAML::Exception&) {
      fail(where, "'" + key + "' has the wrong type: " + YAML::Dump(at(key)));
    }
  }
  template <typename T>
  T get(const std::string& key, T fallback) const {
    return node[key] ? get<T>(key) : fallback;
  }
  // [a, b] of non-negative (positive: `min` 1) integers.
  std::array<int64_t, 2> pair(const std::string& key, std::array<int64_t, 2> fallback, int64_t min) const;
  // The sub-description `key` (a mapping), as Fields naming it "where.key".
  Fields child(const std::string& key) const;
};

// The quantizer on an input, described by the field `key` (docs/export.md "Inputs"), its records
// named `prefix`_shift, `prefix`_step, `prefix`_offset, `prefix`_alpha, `prefix`_beta:
//   float    x
//   sign     sign(x + shift), shift along `channel_dim`, sign(0) = 0 as the training graph's; the
//            packed kernels read x and the shift themselves (layers.h: where 0 counts as +1)
//   uniform  the LSQ family's grid (field `key`_grid: qn, qp, sign, channel_dim):
//            kernels::lsq_forward(x, step, offset, ...), as the training graph's ops::lsq_values
//   adabin   AdaBin's activation (field `key`_form: code, alpha (s + beta), or paper, alpha s + beta;
//            s = sign((x - beta) / alpha)): kernels::adabin_activation_forward, as the training graph
struct InputQuantizer {
  enum class Kind { Float, Sign, Uniform, AdaBin };
  Kind kind = Kind::Float;
  at::Tensor shift, step, offset, alpha, beta;
  bool code_form = true;  // AdaBin's form
  kernels::LsqArgs grid{0, 0, 0};
  int64_t channel_dim = 1;  // of the sign's shift

  // `channels`: the size of the sign's shift (-1: any).
  static InputQuantizer read(const Fields& f, const std::string& key, const Records& records, const std::string& prefix,
                             int64_t channels, int64_t channel_dim);
  at::Tensor apply(const at::Tensor& x) const;
};

std::unique_ptr<Layer> make_layer(const YAML::Node& node, const Records& records, const std::string& where);
// transformer_layers.cpp: the layer of a transformer op (tokens, layer_norm, gelu, attention,
// patch_merge, mean_tokens, vit_heads), or null for another op.
std::unique_ptr<Layer> make_transformer_layer(const std::string& op, const Fields& f, const Records& records);

}  // namespace lowbit::deploy
