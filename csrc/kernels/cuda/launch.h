#pragma once
// Raw-pointer launchers of the CUDA kernels. The .cu files include no LibTorch header, so they
// compile with nvcc against any LibTorch (or none); the tensor-side wrappers are in
// csrc/kernels/cuda/tensor_wrappers.cpp. All pointers are to contiguous device memory.

#include <lowbit/csrc/ops/bit_planes.h>
#include <lowbit/csrc/ops/ste.h>
#include <lowbit/csrc/ops/weight_math.h>

#include <cstdint>

#include <cuda_runtime_api.h>

namespace lowbit::kernels::cuda {

enum class DType { Float, Double, Half, BFloat16 };

void launch_ste_backward(DType dtype, const void* grad, const void* x, void* out, int64_t n, ops::Ste ste,
                         cudaStream_t stream);

// x viewed as [outer, channels, inner]; offset may be null (LSQ without offset).
struct LsqLaunch {
  int64_t n, channels, inner;
  double qn, qp;
  bool sign;
};
void launch_lsq_forward(DType dtype, const void* x, const void* step, const void* offset, void* out,
                        const LsqLaunch& shape, cudaStream_t stream);
// Writes dL/dx (dtype) and the per-element step/offset gradient terms (in the compute type Acc:
// double for double, float otherwise; offset_terms may be null), reduced afterwards by the caller.
void launch_lsq_backward(DType dtype, const void* grad, const void* x, const void* step, const void* offset,
                         void* grad_x, void* step_terms, void* offset_terms, const LsqLaunch& shape,
                         cudaStream_t stream);

// sign(x + b_c) (kernels/shifted_sign.h), x viewed as [n / (channels * inner), channels, inner].
// The backward writes dL/dx; the caller sums it per channel for dL/db.
struct ShiftLaunch {
  int64_t n, channels, inner;
};
void launch_shifted_sign_forward(DType dtype, const void* x, const void* shift, void* out, const ShiftLaunch& shape,
                                 cudaStream_t stream);
void launch_shifted_sign_backward(DType dtype, const void* grad, const void* x, const void* shift, void* grad_x,
                                  ops::Ste ste, const ShiftLaunch& shape, cudaStream_t stream);

// The fused RPReLU (kernels/rprelu.h, ops/rprelu_math.h), x viewed as [n / (channels * inner),
// channels, inner]; residual, t_out and the batch norm's scale and shift may be null.
// `positive`: plane_bytes(n) bytes.
void launch_rprelu_forward(DType dtype, const void* x, const void* residual, const void* scale, const void* shift,
                           const void* gamma, const void* beta, const void* zeta, void* y, void* t_out,
                           uint8_t* positive, const ShiftLaunch& shape, cudaStream_t stream);
// Writes dL/dt and the per-element dL/dbeta terms (in the compute type Acc), summed per channel by
// the caller.
void launch_rprelu_backward(DType dtype, const void* grad, const void* saved, const uint8_t* positive,
                            const void* beta, const void* zeta, bool saved_is_output, void* grad_t, void* beta_terms,
                            const ShiftLaunch& shape, cudaStream_t stream);
// The backward of the batch norm fused into it: per-channel arrays of the dtype, but k0 and k1 in
// the compute type Acc (null for 0). Pass 1 writes dL/dt and the per-element dL/dbeta and
// dL/dweight terms (Acc); pass 2 writes dL/dx.
struct BatchNormRPReLUParams {
  const void *gamma, *beta, *zeta, *weight, *bias, *invstd, *k0, *k1;
};
void launch_batch_norm_rprelu_terms(DType dtype, const void* grad, const void* y, const void* residual,
                                    const uint8_t* positive, const BatchNormRPReLUParams& params, void* grad_t,
                                    void* beta_terms, void* weight_terms, const ShiftLaunch& shape,
                                    cudaStream_t stream);
void launch_batch_norm_rprelu_input_grad(DType dtype, const void* grad_t, const void* y, const void* residual,
                                         const uint8_t* positive, const BatchNormRPReLUParams& params, void* grad_x,
                                         const ShiftLaunch& shape, cudaStream_t stream);

// RoIAlign (kernels/roi_align.h, ops/roi_align_math.h): input [batch, channels, height, width],
// rois [rois, 5], out [rois, channels, pooled_h, pooled_w], contiguous. The backward adds into
// grad_input, zeroed by the caller, in float for float, half and bfloat16 gradients and in double
// for double ones.
struct RoIAlignLaunch {
  int64_t rois, channels, height, width, pooled_h, pooled_w, sampling_ratio;
  double spatial_scale;
  bool aligned;
};
void launch_roi_align_forward(DType dtype, const void* input, const void* rois, void* out, const RoIAlignLaunch& shape,
                              cudaStream_t stream);
void launch_roi_align_backward(DType dtype, const void* grad, const void* rois, void* grad_input,
                               const RoIAlignLaunch& shape, cudaStream_t stream);

// Bit planes (csrc/ops/bit_planes.h): `out` / `planes` hold plane_count(kind) planes of
// plane_bytes(n) bytes, one after the other.
void launch_pack_planes(DType dtype, const void* x, int64_t n, ops::Planes kind, uint8_t* out, cudaStream_t stream);
void launch_unpack_signs(DType dtype, const uint8_t* planes, int64_t n, void* out, cudaStream_t stream);
void launch_mask_by_plane(DType dtype, const void* grad, const uint8_t* mask, int64_t n, void* out,
                          cudaStream_t stream);

// Bit-packed rows and the binary GEMM (kernels/binary_gemm.h). x [rows, k] -> out [rows, planes,
// ceil(k / 64)] words: the sign plane (of x + shift where shift, [k], is not null), then (planes 2)
// the nonzero plane.
void launch_pack_bits(DType dtype, const void* x, const void* shift, int64_t rows, int64_t k, int planes,
                      uint64_t* out, cudaStream_t stream);
// c [m, n] int32 = a [m, planes_a, words] . b [n, planes_b, words] over k values. With `row_counts`
// (m + n int32 of scratch) on the tensor cores (sm_80+, planes 1 and 1 only), else by popcounts.
struct BinaryGemmLaunch {
  int64_t m, n, words, k;
  int planes_a, planes_b;
};
void launch_binary_gemm(const uint64_t* a, const uint64_t* b, int32_t* c, const BinaryGemmLaunch& shape,
                        int32_t* row_counts, cudaStream_t stream);

// Fused weight quantizers (kernels/weight_quantizers.h, ops/weight_math.h), a weight viewed as
// [rows, cols]. Row sums are written per (row, chunk) to `partial` [rows, chunks, terms] doubles,
// for the caller to add over chunks; per-row scalars are [rows] arrays of the weight's dtype;
// `sums`, `kept`, `max_ties` and `dz_sum` are the caller's chunk totals, in device memory.
struct RowLaunch {
  int64_t rows, cols, chunks;  // chunks = row_chunks(cols)
};
// Chunks (blocks) per row of the row-sum launchers: 0 for cols == 0, else 1 to 1024.
int64_t row_chunks(int64_t cols);
// partial [rows, chunks, 1]: sum |w|.
void launch_magnitude_sums(DType dtype, const void* w, double* partial, const RowLaunch& shape, cudaStream_t stream);
// alpha_r = T(sums_r / cols), written to alpha; y = scaled_sign_value(w, alpha_r).
void launch_scaled_sign_forward(DType dtype, const void* w, const double* sums, void* alpha, void* y,
                                const RowLaunch& shape, cudaStream_t stream);
// dL/dw = scaled_sign_grad(g, w, alpha_r, T(cols), scale_by_alpha, add_mean).
void launch_scaled_sign_backward(DType dtype, const void* grad, const void* w, const void* alpha, void* grad_w,
                                 bool scale_by_alpha, bool add_mean, const RowLaunch& shape, cudaStream_t stream);
// threshold_r = T(delta) T(sums_r / cols), written; partial [rows, chunks, 2]: sum, count of |w| > threshold_r.
void launch_ternary_kept_sums(DType dtype, const void* w, const double* sums, double delta, void* threshold,
                              double* partial, const RowLaunch& shape, cudaStream_t stream);
// alpha_r = T(kept[r][0] / max(1, kept[r][1])), written; y = ternary_value(w, threshold_r, alpha_r).
void launch_ternarize(DType dtype, const void* w, const void* threshold, const double* kept, void* alpha, void* y,
                      const RowLaunch& shape, cudaStream_t stream);
// RBONN's recurrent shift of a bilinear binarization: x = recurrent_value(w, c_r, p) where p is set,
// else x = w.
struct BilinearShift {
  const void* c;  // [rows]
  const void* p;  // shaped as w
};
// What the backward records: dL/dx / scale (ops::Record; `recorded` shaped as w).
struct BilinearRecord {
  ops::Record mode;
  double scale;
  void* recorded;
};
// y = bilinear_value(x, T(kappa), alpha_r).
void launch_bilinear_sign_forward(DType dtype, const void* w, const void* alpha, double kappa,
                                  const BilinearShift& shift, void* y, const RowLaunch& shape, cudaStream_t stream);
// dL/dx of bilinear_terms(g, x, T(kappa), alpha_r, gamma_r), and its record; partial [rows, chunks, 3]:
// sum g x, sum r b, sum dL/dx p (0 without a shift).
void launch_bilinear_sign_backward(DType dtype, const void* grad, const void* w, const void* alpha, const void* gamma,
                                   double kappa, const BilinearShift& shift, const BilinearRecord& record,
                                   void* grad_w, double* partial, const RowLaunch& shape, cudaStream_t stream);
// partial [rows, chunks, 2]: max |t| over the chunk (NaN skipped) and the count of its ties.
void launch_dorefa_max_ties(DType dtype, const void* t, double* partial, const RowLaunch& shape, cudaStream_t stream);
// y = dorefa_weight_value(t, 1 / (2M), levels, 2 / levels) in T, max_ties = {M, ties}.
void launch_dorefa_weight_forward(DType dtype, const void* t, const double* max_ties, double levels, void* y,
                                  int64_t n, cudaStream_t stream);
// partial [rows, chunks, 1]: sum g t.
void launch_dorefa_gt_sums(DType dtype, const void* grad, const void* t, double* partial, const RowLaunch& shape,
                           cudaStream_t stream);
// dL/dw = dorefa_weight_grad(g, t, M, 1 / M, T(dM / ties)), dM = -gt_sum[0] / M^2 in double.
void launch_dorefa_weight_backward(DType dtype, const void* grad, const void* t, const double* max_ties,
                                   const double* gt_sum, void* grad_w, int64_t n, cudaStream_t stream);
// AdaBin weights (adabin_value, adabin_e), per row: beta = mean w, alpha = sqrt(max(mean (w - beta)^2, 1e-24)).
// partial [rows, chunks, 1]: sum w.
void launch_adabin_weight_sums(DType dtype, const void* w, double* partial, const RowLaunch& shape,
                               cudaStream_t stream);
// beta_r = T(sums_r / cols), written; partial [rows, chunks, 1]: sum (w - beta_r)^2 (difference and square in T).
void launch_adabin_deviation_sums(DType dtype, const void* w, const double* sums, void* beta, double* partial,
                                  const RowLaunch& shape, cudaStream_t stream);
// alpha_r = sqrt(max(T(deviations_r / cols), T(1e-24))) in T, written; y = adabin_value(w, beta_r, alpha_r).
void launch_adabin_weight_forward(DType dtype, const void* w, const void* beta, const double* deviations, void* alpha,
                                  void* y, const RowLaunch& shape, cudaStream_t stream);
// k and t: one element each (dtype, device memory). With d = w - beta_r, u = d / alpha_r,
// e = adabin_e(g, alpha_r, T(k) T(t), tanh(t u)), s = sign_of(u):
// partial [rows, chunks, 5]: sum g, g s, e, e d, d.
void launch_adabin_weight_grad_sums(DType dtype, const void* grad, const void* w, const void* beta, const void* alpha,
                                    const void* k, const void* t, double* partial, const RowLaunch& shape,
                                    cudaStream_t stream);
// From the row totals `sums` [rows, 5] (double), per row in double: dalpha = S_gs - S_ed / alpha^2,
// dv = alpha^2 > 1e-24 ? dalpha / (2 alpha) : 0, dbeta = S_g - S_e / alpha - dv 2 S_d / cols, written to
// `scalars` [rows, 3] (dtype, the caller's scratch) as T(1 / alpha), T(dv 2 / cols), T(dbeta / cols);
// then dL/dw = e scalars[0] + d scalars[1] + scalars[2] in T.
void launch_adabin_weight_backward(DType dtype, const void* grad, const void* w, const void* beta, const void* alpha,
                                   const void* k, const void* t, const double* sums, void* scalars, void* grad_w,
                                   const RowLaunch& shape, cudaStream_t stream);

// Fused activation quantizers (kernels/activation_quantizers.h, ops/activation_math.h), element-wise
// over n elements. alpha and beta hold one element each (dtype, device memory).
// y = dorefa_activation_value(x, T(levels)).
void launch_dorefa_activation_forward(DType dtype, const void* x, double levels, void* y, int64_t n,
                                      cudaStream_t stream);
// dL/dx = dorefa_activation_grad(g, x).
void launch_dorefa_activation_backward(DType dtype, const void* grad, const void* x, void* grad_x, int64_t n,
                                       cudaStream_t stream);
// y = adabin_act_value(x, alpha, beta, code).
void launch_adabin_activation_forward(DType dtype, const void* x, const void* alpha, const void* beta, bool code,
                                      void* y, int64_t n, cudaStream_t stream);
// dL/dx of adabin_act_grads, written; partial [blocks, 2], blocks = row_chunks(n) (each block sums its
// grid-stride share in double): the sums of the alpha terms and of the beta terms, for the caller to
// add over blocks.
void launch_adabin_activation_backward(DType dtype, const void* grad, const void* x, const void* alpha,
                                       const void* beta, bool code, void* grad_x, double* partial, int64_t n,
                                       int64_t blocks, cudaStream_t stream);

}  // namespace lowbit::kernels::cuda
