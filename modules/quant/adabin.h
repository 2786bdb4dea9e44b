#pragma once
// AdaBin's adaptive binary sets (Tu, Chen, Ren, Wang, ECCV 2022, arXiv 2208.08084), as the
// official code implements them (huawei-noah/Efficient-Computing, BinaryNetworks/AdaBin/
// {imagenet,cifar10}/utils/binarylib.py: AdaBin_Conv2d, BinaryQuantize, BinaryActivation).
//
// Weights, `adabin` — per output channel o, n = numel(W_o):
//   β_w = mean(W_o),  α_w = sqrt(Σ (W_o − β_w)² / n)          (population std)
//   Ŵ = (W − β_w) / α_w,  W_b = α_w · sign(Ŵ) + β_w            (the set {β_w − α_w, β_w + α_w})
//   backward: sign through IR-Net's EDE, ∂sign/∂Ŵ = k·t·(1 − tanh²(t·Ŵ)) (csrc/ops/ede_sign.h);
//   α_w and β_w are NOT detached, so autograd carries the gradient through the mean and std
//   back into W as the official code does. No learnable state besides W.
//   k and t are buffers (start: k = 10, t = 0.1, the code's values), which the EDE schedule
//   sets at the start of every epoch e of E (hooks::begin_epoch, AdaBin's main.py):
//     t_e = 10^(log10 t_min + (log10 t_max − log10 t_min)·e/E),  k_e = max(1, 1/t_e),
//   t_min = 1e-3, t_max = 10. `progressive: false` keeps k, t fixed (the CIFAR script without
//   --progressive).
//
// Activations, `adabin_act` — learnable per-layer scalars α_a (init 1) and β_a (init 0):
//   u = (x − β_a) / α_a,  s = sign(u) with the ApproxSign backward g(u) = (2 − 2|u|)·1[|u| ≤ 1],
//   form `code` (default):  y = α_a·(s + β_a)  = α_a·s + α_a·β_a
//        ∂y/∂x = g(u),  ∂y/∂α_a = s + β_a − u·g(u),  ∂y/∂β_a = α_a − g(u)
//   form `paper`:          y = α_a·s + β_a     (the paper's set {β_a − α_a, β_a + α_a})
//        ∂y/∂x = g(u),  ∂y/∂α_a = s − u·g(u),  ∂y/∂β_a = 1 − g(u)
//   Both the PyTorch and the MindSpore code compute α(s + β); the paper describes centre β and
//   distance α. `code` is the default because it is what produced the published numbers.
//
// Decisions where the code and the paper leave room:
// - sign(0) = 0, as torch.sign in the official code (and csrc/ops/ste.h): an exactly zero Ŵ
//   gives W_b = β_w, a third level, and an activation exactly at β_a gives y = α_a·β_a (code
//   form). Exact zeros have measure zero for trained real values.
// - n counts the entries of W_o. The code divides by k·k·in_channels, which differs only for
//   grouped convolutions (where its "std" is not a std).
// - α_w is floored at 1e-12 so that a constant filter binarizes to β_w instead of NaN (the code
//   divides by zero there).
// Both binarizers are fused kernels (csrc/ops/adabin.h).
// Official parameter names are kept: `alpha_a`, `beta_a` (0-dim, as torch.tensor(1.0)); `k`, `t`
// are plain attributes in the code (not in its state dicts), buffers here so that a resumed
// run continues the schedule bit-exactly.

#include <lowbit/modules/hooks/training_hooks.h>
#include <lowbit/modules/quant/quantizer.h>

#include <torch/arg.h>

namespace lowbit::quant {

// The EDE schedule's (k, t) for `epoch` in [0, epochs).
struct EdeStep {
  double k, t;
};
EdeStep ede_schedule(int64_t epoch, int64_t epochs, double t_min = 1e-3, double t_max = 10);

struct AdaBinOptions {
  TORCH_ARG(double, k) = 10;   // before the first epoch's update
  TORCH_ARG(double, t) = 0.1;
  TORCH_ARG(bool, progressive) = true;  // follow the EDE schedule
  TORCH_ARG(double, t_min) = 1e-3;
  TORCH_ARG(double, t_max) = 10;
};

class AdaBinImpl : public QuantizerCloneable<AdaBinImpl>, public hooks::TrainingHooks {
 public:
  explicit AdaBinImpl(AdaBinOptions options = {});
  void reset() override;  // creates the buffers k, t from the options
  torch::Tensor forward(const torch::Tensor& w) override;
  int64_t bits() const override { return 1; }
  void check_shape(c10::IntArrayRef shape) const override;
  void on_epoch_begin(int64_t epoch, int64_t epochs) override;
  // W_b = alpha_w sign(W_hat) + beta_w: codes -1, 0, +1 with scale alpha_w and offset beta_w per
  // output channel, as the forward kernel computes them.
  std::optional<WeightGrid> weight_grid(const torch::Tensor& w, const torch::Tensor& q) override;
  std::string registry_name() const override { return "adabin"; }
  Params config() const override;
  AdaBinOptions options;
  torch::Tensor k, t;  // 0-dim buffers
};
TORCH_MODULE(AdaBin);

enum class AdaBinActForm { Code, Paper };

struct AdaBinActOptions {
  TORCH_ARG(AdaBinActForm, form) = AdaBinActForm::Code;
};

class AdaBinActImpl : public QuantizerCloneable<AdaBinActImpl> {
 public:
  explicit AdaBinActImpl(AdaBinActOptions options = {});
  void reset() override;
  torch::Tensor forward(const torch::Tensor& x) override;
  int64_t bits() const override { return 1; }
  std::string registry_name() const override { return "adabin_act"; }
  Params config() const override;
  AdaBinActOptions options;
  torch::Tensor alpha_a, beta_a;  // 0-dim parameters, official names
};
TORCH_MODULE(AdaBinAct);

// "code" or "paper"; throws naming the accepted names otherwise.
AdaBinActForm parse_adabin_act_form(const std::string& name);

}  // namespace lowbit::quant
