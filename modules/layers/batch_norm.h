#pragma once
// Batch normalisation over dim 1 of inputs [B, C, ...] (Ioffe & Szegedy 2015), one module for
// torch::nn::BatchNorm1d's and BatchNorm2d's inputs, with their options, parameter and buffer
// names (weight, bias, running_mean, running_var, num_batches_tracked), so that their state dicts
// and checkpoints load unchanged:
//   y = (x - mean) / sqrt(var + eps) * weight + bias,   per channel over all dims but 1,
//   training: the batch's mean and biased var; running_mean <- (1 - m) running_mean + m mean,
//             running_var <- (1 - m) running_var + m var_unbiased, num_batches_tracked += 1
//             (momentum unset: m = 1 / num_batches_tracked, the cumulative average)
//   eval:     running_mean, running_var (the batch's without track_running_stats).
// Alone, in eval mode, or when the replicas do not ask for it (hooks::Replicas::sync_batch_norm),
// this is torch::batch_norm exactly as torch::nn::BatchNorm2d calls it.
//
// Ghost batch norm (`ghost_batch` = G > 0; recipes: model.bn_batch): in training, the batch is
// normalised in consecutive chunks of G samples (the last may be smaller), each with its own
// mean and var, as nn.DataParallel normalises each replica's share of the batch (Hoffer et al.
// 2017 name it ghost batch norm). The running statistics follow the first chunk alone, as under
// DataParallel: replicate() broadcasts the buffers with comm.broadcast_coalesced, whose outputs on
// the source device are the module's own tensors, so replica 0 updates the module's running_mean
// and running_var (and num_batches_tracked, once per forward) while the other replicas update
// copies that are dropped. DataParallel splits a batch of B into ceil(B / N)-sample shares, so
// only a short last batch of an epoch is cut differently. Not combined with sync_batch_norm.
//
// Training with replicas and sync_batch_norm: SyncBatchNorm (torch.nn.SyncBatchNorm,
// torch/nn/modules/_functions.py), the statistics of the whole batch over all replicas, n their
// element count per channel:
//   forward:  all_reduce(Sum) of [Σx, Σx², n] per channel, one [3, C] tensor in float64; each
//             share's Σx² is formed as n_r (var_r + mean_r²) from its own var_mean, so that only
//             var = Σx²/n - mean² subtracts, in double (float-accurate while mean²/var < ~1e8;
//             PyTorch all_gathers each share's mean, invstd and n and merges them instead);
//             normalise with var (biased); running_var with var n / (n - 1) (the global n).
//   backward: all_reduce(Sum) of [Σdy, Σdy (x - mean)] per channel, one [2, C] tensor;
//             dx = (dy - Σdy / n - (x - mean) invstd² Σdy(x - mean) / n) invstd weight,
//             invstd = 1 / sqrt(var + eps);
//             dweight = Σ_local dy (x - mean) invstd, dbias = Σ_local dy: the LOCAL sums, as PyTorch.
//   Why local sums are right: with N replicas of B samples each, replica r's loss
//   L_r = (1/B) Σ_{i in r} l_i, and one process's L = (1/NB) Σ_i l_i, dL_r/dy_i = N dL/dy_i, so
//     mean_r dweight_r = (1/N) Σ_r Σ_{i in r} dL_r/dy_i x_hat_i = Σ_i dL/dy_i x_hat_i = dweight,
//   i.e. the engine's gradient average gives one process's gradient, while each replica's dx is N
//   times one process's dx of its rows (the reduced Σdy are N times too), which the layers below
//   again average into one process's parameter gradients.
// Half and bfloat16 inputs are normalised in float (the statistics, the output before it is cast
// back, the backward), as PyTorch's kernels accumulate. The Function keeps the Replicas pointer of
// its forward for the backward's all_reduce (which may run on an autograd device thread). Every
// replica must run the same training forwards and backwards, as for every collective.

#include <lowbit/modules/hooks/replicas.h>

#include <torch/nn/cloneable.h>
#include <torch/nn/options/batchnorm.h>

namespace lowbit::layers {

// num_features, eps 1e-5, momentum 0.1 (optional: unset is the cumulative average), affine,
// track_running_stats: torch's own options.
using BatchNormOptions = torch::nn::BatchNormOptions;

class BatchNormImpl : public torch::nn::Cloneable<BatchNormImpl> {
 public:
  explicit BatchNormImpl(BatchNormOptions options);
  void reset() override;
  void reset_running_stats();
  void reset_parameters();
  torch::Tensor forward(const torch::Tensor& input);
  void pretty_print(std::ostream& stream) const override;

  // For ops that fuse the batch norm into what follows it (ops::batch_norm_rprelu): whether forward()
  // would normalise `input` with torch::batch_norm alone (not in ghost batches, nor across
  // replicas); whether it would use the batch's statistics; and counting a batch as forward() does
  // (num_batches_tracked += 1 in training), the momentum it would pass.
  bool normalises_alone(const torch::Tensor& input) const;
  bool uses_batch_statistics() const;
  double count_batch();

  BatchNormOptions options;
  // weight, bias undefined without affine; the running statistics without track_running_stats.
  torch::Tensor weight, bias, running_mean, running_var, num_batches_tracked;
  int64_t ghost_batch = 0;  // G; 0: the whole batch

 private:
  bool synchronises() const;
  torch::Tensor ghost_forward(const torch::Tensor& input, double momentum);
};
TORCH_MODULE(BatchNorm);

// Sets ghost_batch of every BatchNorm in `module` (itself included); 0 turns ghost batches off.
void set_ghost_batch(torch::nn::Module& module, int64_t ghost_batch);

// The training-mode SyncBatchNorm above over `replicas`, updating running_mean and running_var in
// place when defined (with `momentum`, the factor of this step); weight and bias may be undefined.
torch::Tensor sync_batch_norm(const torch::Tensor& input, const torch::Tensor& weight, const torch::Tensor& bias,
                              const torch::Tensor& running_mean, const torch::Tensor& running_var, double momentum,
                              double eps, hooks::Replicas& replicas);

}  // namespace lowbit::layers
