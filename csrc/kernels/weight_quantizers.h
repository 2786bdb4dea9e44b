#pragma once
// Fused weight quantizers, CPU and CUDA (formulas in csrc/ops/weight_math.h): one pass for each
// row statistic, one for the output; the backward one pass, plus one for its row sums where it has
// them. A weight [C_out, ...] is viewed as [rows, cols], a row per output channel (per_row) or one
// row for the whole tensor. Row statistics are summed in double (float64 inputs stay float64
// throughout); half and bfloat16 weights are computed in float and returned in their dtype.

#include <ATen/core/Tensor.h>

#include <optional>
#include <tuple>

namespace lowbit::kernels {

// XNOR-Net: y = alpha_r sign(w), alpha_r = mean |w| over row r. Returns y and alpha [rows].
std::tuple<at::Tensor, at::Tensor> scaled_sign_forward(const at::Tensor& w);
// dL/dw by ScaleGrad (ops/scaled_sign.h) as two flags: times alpha, plus g / cols.
at::Tensor scaled_sign_backward(const at::Tensor& grad, const at::Tensor& w, const at::Tensor& alpha,
                                bool scale_by_alpha, bool add_mean);
// The same written over grad, which must be contiguous and of the dtype the kernel computes in (w's,
// float or double).
void scaled_sign_backward_(const at::Tensor& grad, const at::Tensor& w, const at::Tensor& alpha, bool scale_by_alpha,
                           bool add_mean);

// TWN: y = alpha_r sign(w) 1[|w| > Delta_r], Delta_r = delta mean_r |w|,
// alpha_r = sum_r |w| 1[|w| > Delta_r] / max(1, count). Returns y, Delta and alpha ([rows], w's
// dtype). The backward is ste_backward.
std::tuple<at::Tensor, at::Tensor, at::Tensor> ternarize_forward(const at::Tensor& w, double delta, bool per_row);

// Bilinear binarization, alpha [rows] = |scale|, gamma [rows]: y = kappa sign(x) alpha_r with x = w,
// or with a recurrent shift (RBONN; c [rows], P shaped as w) x = W~ = w - c_r P (ops::recurrent_value,
// recomputed by the backward). The backward returns dL/dx (= dL/dw), dL/dalpha [rows] (in alpha's
// dtype), dL/dc [rows] (c's dtype; [0] without a shift) and, for record_scale S > 0, dL/dx / S
// (RBONN's record of the unscaled gradient; [0] for S = 0), all in one pass over the weight.
at::Tensor bilinear_sign_forward(const at::Tensor& w, const at::Tensor& alpha, double kappa,
                                 const std::optional<at::Tensor>& shift_c = std::nullopt,
                                 const std::optional<at::Tensor>& shift_p = std::nullopt);
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> bilinear_sign_backward(
    const at::Tensor& grad, const at::Tensor& w, const at::Tensor& alpha, const at::Tensor& gamma, double kappa,
    const std::optional<at::Tensor>& shift_c = std::nullopt, const std::optional<at::Tensor>& shift_p = std::nullopt,
    double record_scale = 0);

// DoReFa k-bit weights (any shape, one row): y, t = tanh(w) and the max |t| with the count of its
// ties (a float64 pair [M, ties]), t and the pair for the backward, which returns dL/dw. The CPU
// computes tanh with kernels/cpu/fast_tanh.h (float: within a few units in the last place of
// ATen's), CUDA with ATen's.
std::tuple<at::Tensor, at::Tensor, at::Tensor> dorefa_weight_forward(const at::Tensor& w, int64_t bits);
at::Tensor dorefa_weight_backward(const at::Tensor& grad, const at::Tensor& t, const at::Tensor& max_ties,
                                  int64_t bits);

// AdaBin weights per output channel (ops/weight_math.h): y, beta [rows] and alpha [rows]; the
// backward (the EDE with the 0-dim k and t) returns dL/dw through beta and alpha as autograd would.
std::tuple<at::Tensor, at::Tensor, at::Tensor> adabin_weight_forward(const at::Tensor& w);
at::Tensor adabin_weight_backward(const at::Tensor& grad, const at::Tensor& w, const at::Tensor& beta,
                                  const at::Tensor& alpha, const at::Tensor& k, const at::Tensor& t);

namespace cpu {
std::tuple<at::Tensor, at::Tensor> scaled_sign_forward(const at::Tensor& w);
at::Tensor scaled_sign_backward(const at::Tensor& grad, const at::Tensor& w, const at::Tensor& alpha,
                                bool scale_by_alpha, bool add_mean);
void scaled_sign_backward_(const at::Tensor& grad, const at::Tensor& w, const at::Tensor& alpha, bool scale_by_alpha,
                           bool add_mean);
std::tuple<at::Tensor, at::Tensor, at::Tensor> ternarize_forward(const at::Tensor& w, double delta, bool per_row);
at::Tensor bilinear_sign_forward(const at::Tensor& w, const at::Tensor& alpha, double kappa,
                                 const std::optional<at::Tensor>& shift_c, const std::optional<at::Tensor>& shift_p);
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> bilinear_sign_backward(
    const at::Tensor& grad, const at::Tensor& w, const at::Tensor& alpha, const at::Tensor& gamma, double kappa,
    const std::optional<at::Tensor>& shift_c, const std::optional<at::Tensor>& shift_p, double record_scale);
std::tuple<at::Tensor, at::Tensor, at::Tensor> dorefa_weight_forward(const at::Tensor& w, int64_t bits);
at::Tensor dorefa_weight_backward(const at::Tensor& grad, const at::Tensor& t, const at::Tensor& max_ties,
                                  int64_t bits);
std::tuple<at::Tensor, at::Tensor, at::Tensor> adabin_weight_forward(const at::Tensor& w);
at::Tensor adabin_weight_backward(const at::Tensor& grad, const at::Tensor& w, const at::Tensor& beta,
                                  const at::Tensor& alpha, const at::Tensor& k, const at::Tensor& t);
}  // namespace cpu
namespace cuda {
std::tuple<at::Tensor, at::Tensor> scaled_sign_forward(const at::Tensor& w);
at::Tensor scaled_sign_backward(const at::Tensor& grad, const at::Tensor& w, const at::Tensor& alpha,
                                bool scale_by_alpha, bool add_mean);
void scaled_sign_backward_(const at::Tensor& grad, const at::Tensor& w, const at::Tensor& alpha, bool scale_by_alpha,
                           bool add_mean);
std::tuple<at::Tensor, at::Tensor, at::Tensor> ternarize_forward(const at::Tensor& w, double delta, bool per_row);
at::Tensor bilinear_sign_forward(const at::Tensor& w, const at::Tensor& alpha, double kappa,
                                 const std::optional<at::Tensor>& shift_c, const std::optional<at::Tensor>& shift_p);
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> bilinear_sign_backward(
    const at::Tensor& grad, const at::Tensor& w, const at::Tensor& alpha, const at::Tensor& gamma, double kappa,
    const std::optional<at::Tensor>& shift_c, const std::optional<at::Tensor>& shift_p, double record_scale);
std::tuple<at::Tensor, at::Tensor, at::Tensor> dorefa_weight_forward(const at::Tensor& w, int64_t bits);
at::Tensor dorefa_weight_backward(const at::Tensor& grad, const at::Tensor& t, const at::Tensor& max_ties,
                                  int64_t bits);
std::tuple<at::Tensor, at::Tensor, at::Tensor> adabin_weight_forward(const at::Tensor& w);
at::Tensor adabin_weight_backward(const at::Tensor& grad, const at::Tensor& w, const at::Tensor& beta,
                                  const at::Tensor& alpha, const at::Tensor& k, const at::Tensor& t);
}  // namespace cuda

}  // namespace lowbit::kernels
