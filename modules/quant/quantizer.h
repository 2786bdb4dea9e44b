#pragma once
// The common interface of quantizers: a torch::nn::Module mapping a tensor to its quantized
// value, with its learnable state (scales, thresholds, offsets) registered by name so that
// torch::save / torch::load round-trip it. Layers hold quantizers as child modules through the
// `Quantizer` holder; concrete quantizers derive from QuantizerCloneable<Self>.

#include <lowbit/csrc/ops/lsq.h>
#include <lowbit/csrc/util/params.h>

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <memory>
#include <optional>
#include <string>
#include <type_traits>

namespace lowbit::quant {

// A weight as a deployed model stores it (csrc/deploy/export.h): the quantizer's eval-mode values and,
// where it has them, integer codes with one scale (and offset) per output channel, dim 0, or one
// for all: values = codes * scales + offsets.
//   binary / ternary (outputs_scaled_signs): codes in {-1, 0, +1}, no offsets, values exactly the
//     products; bits 1 or 2;
//   a grid (weight_grid: LSQ, DoReFa, AdaBin): codes in [code_min, code_max], values within one
//     float32 rounding of the fused multiply-add (checked); bits = ceil(log2(code_max - code_min + 1)).
struct ExportedWeight {
  torch::Tensor values;                  // float32, the weight's shape
  torch::Tensor codes, scales, offsets;  // undefined where no codes; offsets undefined where none
  int64_t code_min = 0, code_max = 0, bits = 32;
};

// The grid a multi-bit weight quantizer's eval output lies on: q = code * scale + offset, code an
// integer in [code_min, code_max]; scale and offset one value or one per output channel (dim 0);
// offset may be undefined (0).
struct WeightGrid {
  torch::Tensor scale, offset;
  int64_t code_min = 0, code_max = 0;
};

// A quantizer's output, with the LSQ grid its values lie on where it has one.
struct QuantizedTensor {
  torch::Tensor values;
  std::optional<ops::LsqGrid> grid;
};

class QuantizerImpl : public torch::nn::Module {
 public:
  explicit QuantizerImpl(std::string name) : torch::nn::Module(std::move(name)) {}

  virtual torch::Tensor forward(const torch::Tensor& x) = 0;

  // Throws, naming the mismatch, if this quantizer's per-channel state cannot apply to a tensor
  // of `shape`. Layers call it when they adopt a quantizer.
  virtual void check_shape(c10::IntArrayRef shape) const { (void)shape; }

  // Bits per quantized value, for model summaries and packed sizes: 32 for full precision,
  // 1 for binary, 2 for ternary ({-a, 0, a} stored in 2 bits).
  virtual int64_t bits() const { return 32; }

  // True when every output value is -1, 0 or +1 (sign, rsign): a layer then keeps that input for
  // its backward as bit planes (csrc/ops/kept_operands.h) instead of in its floating-point dtype.
  virtual bool outputs_signs() const { return false; }

  // True when every output value, per slice along dim 0, is -s, 0 or +s for one s >= 0 per slice
  // (the binary and ternary weight quantizers; s = 1 for those that output signs): a binarized
  // layer keeps such a weight for its backward as bit planes and the slices' magnitudes
  // (csrc/ops/kept_operands.h).
  virtual bool outputs_scaled_signs() const { return outputs_signs(); }

  // forward(x) and, for the LSQ family (lsq, lsq_plus, qvit_act), the grid its values lie on:
  // a layer then keeps x (which the quantizer's backward keeps anyway) instead of the values, and
  // recomputes them in its backward (csrc/ops/kept_operands.h).
  virtual QuantizedTensor forward_with_grid(const torch::Tensor& x) { return {forward(x), std::nullopt}; }

  // The weight this quantizer gives `w` (its eval-mode forward, no gradient) with its codes:
  // for quantizers whose outputs_scaled_signs(), scales[o] = max |q[o]| and codes = sign(q) (0
  // where q is 0, so a binary quantizer's output holding a zero comes back with codes of three
  // values); for those with a weight_grid(), the grid's codes; otherwise the values alone (a
  // quantizer with neither, an LSQ with its steps along another dim). Throws if the output does not
  // lie on what the quantizer says.
  ExportedWeight export_weight(const torch::Tensor& w);

  // The grid of this weight quantizer's eval output q for `w` (see WeightGrid): by default the
  // uniform_grid() of the LSQ family where its steps run along dim 0 or are one; nullopt for the
  // others. DoReFa's and AdaBin's weights override it.
  virtual std::optional<WeightGrid> weight_grid(const torch::Tensor& w, const torch::Tensor& q);

  // The grid of an eval-mode forward, v_hat = L(clamp((x - offset) / step, qn, qp)) step + offset
  // (ops::lsq_values recomputes the values from it), for the LSQ family (lsq, lsq_plus, qvit_act):
  // how a deployed network quantizes this activation. nullopt for the others. Throws for an LSQ
  // quantizer that has not initialised its step yet (its first forward would, from that input).
  virtual std::optional<ops::LsqGrid> uniform_grid() { return std::nullopt; }

  // A weight quantizer's rewrite of the latent (real-valued) weight it binarizes, which the QConv2d
  // or QLinear owning both calls after every optimizer step (hooks::TrainingHooks::on_step_end;
  // a loop of one's own calls hooks::end_step), without gradient, on a weight that trains:
  // BinaryConnect / BNN clamp it to [-1, 1], XNOR-Net also mean-centres it (sign and xnor:
  // latent_clip, latent_center). Nothing by default; settles_latent() says whether it does any.
  virtual void settle_latent(torch::Tensor& weight) const { (void)weight; }
  virtual bool settles_latent() const { return false; }

  // The name this quantizer is registered under and the options that rebuild it:
  // quant::make(q->registry_name(), q->config()) is a quantizer with the same options (its learned
  // state is copy_state's). "" and {} for quantizers that do not describe themselves.
  virtual std::string registry_name() const { return ""; }
  virtual Params config() const { return {}; }

  // (Re)creates all parameters, buffers and submodules, as torch::nn::Cloneable::reset.
  virtual void reset() = 0;
};

// Copies the values of every parameter and buffer of `from` into the same-named ones of `to`.
void copy_state(const torch::nn::Module& from, torch::nn::Module& to, const std::optional<torch::Device>& device);

// Deep copy for quantizers, as torch::nn::Cloneable gives other modules (which a QuantizerImpl
// cannot use: Cloneable derives from Module itself). The copy is built from the original's
// options, so every quantizer has an `options` member and a constructor taking it.
template <typename Derived>
class QuantizerCloneable : public QuantizerImpl {
 public:
  using QuantizerImpl::QuantizerImpl;

  std::shared_ptr<torch::nn::Module> clone(const std::optional<torch::Device>& device = std::nullopt) const override {
    auto copy = std::make_shared<Derived>(static_cast<const Derived&>(*this).options);
    copy_state(*this, *copy, device);
    return copy;
  }

 private:
  // Called by a parent's clone() on the child that its reset() re-created.
  void clone_(torch::nn::Module& other, const std::optional<torch::Device>& device) final {
    copy_state(other, *this, device);
  }
};

// Holder of any quantizer: `Quantizer q = Lsq(LsqOptions(4));` or `quant::make("lsq", params)`.
// Conversions are implicit, as between TORCH_MODULE holders and their shared_ptrs.
class Quantizer : public torch::nn::ModuleHolder<QuantizerImpl> {
 public:
  Quantizer(std::nullptr_t) : ModuleHolder(nullptr) {}  // NOLINT
  Quantizer(std::shared_ptr<QuantizerImpl> impl) : ModuleHolder(std::move(impl)) {}  // NOLINT
  template <typename Impl, typename = std::enable_if_t<std::is_base_of_v<QuantizerImpl, Impl>>>
  Quantizer(const torch::nn::ModuleHolder<Impl>& holder)  // NOLINT
      : ModuleHolder(std::shared_ptr<QuantizerImpl>(holder.ptr())) {}
};

// A deep copy of `prototype` for a layer to own, or the identity quantizer when it is empty.
// adopt() throws for a quantizer that settles_latent(): only the weight quantizers of QConv2d and
// QLinear rewrite their weight, and take it through adopt_weight().
Quantizer adopt(const Quantizer& prototype);
Quantizer adopt_weight(const Quantizer& prototype);

// quantizer.settle_latent(weight) without gradient, where the weight trains (a frozen one stays).
void settle_latent_weight(const QuantizerImpl& quantizer, torch::Tensor& weight);

}  // namespace lowbit::quant
