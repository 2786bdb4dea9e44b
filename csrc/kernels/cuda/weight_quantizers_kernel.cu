// Fused weight quantizers (csrc/kernels/weight_quantizers.h), the formulas of csrc/ops/weight_math.h.
// A weight is [rows, cols], contiguous. Row sums: one block per (row, chunk), blockIdx = (row, chunk),
// a chunk taking every chunks-th run of kBlock columns; each block writes its sums in double to
// partial[row][chunk][term], and the caller adds them over chunks. Per-row scalars (alpha, thresholds)
// are formed from the summed statistics by one thread per row, in the weight's dtype, before the
// element-wise pass reads them.

#include <lowbit/csrc/kernels/cuda/block_sum.cuh>
#include <lowbit/csrc/kernels/cuda/dtype_dispatch.cuh>
#include <lowbit/csrc/kernels/cuda/launch.h>
#include <lowbit/csrc/ops/weight_math.h>

#include <stdexcept>
#include <string>

namespace lowbit::kernels::cuda {
namespace {

constexpr int64_t kMaxChunks = 1024;       // blocks per row (gridDim.y, at most 65535)
constexpr int64_t kMaxRowBlocks = 65535 * 8;  // gridDim.x; the blocks loop over rows beyond it

bool empty(const RowLaunch& s) { return s.rows == 0 || s.cols == 0; }

void check_chunks(const RowLaunch& s) {
  if (s.chunks < 1 || s.chunks > kMaxChunks) {
    throw std::invalid_argument("lowbit CUDA weight quantizers: " + std::to_string(s.chunks) +
                                " chunks per row, expected row_chunks(cols)");
  }
}

dim3 row_grid(const RowLaunch& s) {
  return dim3(static_cast<unsigned>(s.rows < kMaxRowBlocks ? s.rows : kMaxRowBlocks),
              static_cast<unsigned>(s.chunks));
}

// partial[row][chunk][0 .. Terms) = sum over the chunk's columns of op(row, flat index, v).
template <int Terms, typename Op>
__global__ void row_sums_kernel(Op op, RowLaunch s, double* partial) {
  for (int64_t row = blockIdx.x; row < s.rows; row += gridDim.x) {
    double v[Terms] = {};
    const int64_t first = row * s.cols;
    for (int64_t c = int64_t(blockIdx.y) * kBlock + threadIdx.x; c < s.cols; c += s.chunks * kBlock) {
      op(row, first + c, v);
    }
    block_sum(v);
    if (threadIdx.x == 0) {
      double* out = partial + (row * s.chunks + blockIdx.y) * Terms;
#pragma unroll
      for (int k = 0; k < Terms; ++k) out[k] = v[k];
    }
  }
}

template <int Terms, typename Op>
void launch_row_sums(const Op& op, double* partial, const RowLaunch& s, cudaStream_t stream) {
  row_sums_kernel<Terms, Op><<<row_grid(s), kBlock, 0, stream>>>(op, s, partial);
}

// ---- row-sum terms ----

template <typename T>
struct MagnitudeSum {  // sum |w|
  const T* w;
  __device__ void operator()(int64_t, int64_t i, double (&v)[1]) const {
    using acc_t = typename Acc<T>::type;
    v[0] += static_cast<double>(ops::magnitude_of(acc_t(w[i])));
  }
};

template <typename T>
struct KeptSum {  // sum and count of |w| > threshold_r
  const T* w;
  const T* threshold;
  __device__ void operator()(int64_t row, int64_t i, double (&v)[2]) const {
    using acc_t = typename Acc<T>::type;
    const acc_t magnitude = ops::magnitude_of(acc_t(w[i]));
    const bool kept = magnitude > acc_t(threshold[row]);
    v[0] += kept ? static_cast<double>(magnitude) : 0.0;
    v[1] += kept ? 1.0 : 0.0;
  }
};

// The bilinear binarization's input: w, or RBONN's W~ = w - c_r p where p is set.
template <typename T>
__device__ inline typename Acc<T>::type bilinear_input(const T* w, const T* c, const T* p, int64_t row, int64_t i) {
  using acc_t = typename Acc<T>::type;
  return p == nullptr ? acc_t(w[i]) : ops::recurrent_value(acc_t(w[i]), acc_t(c[row]), acc_t(p[i]));
}

template <typename T>
struct BilinearGrad {  // writes dL/dx and its record; sums g x, r b and dL/dx p
  const T* grad;
  const T* w;
  const T* alpha;
  const T* gamma;
  const T* c;
  const T* p;  // null: no shift
  typename Acc<T>::type kappa;
  ops::Record record;
  typename Acc<T>::type scale;  // 1 / S (TimesInverse) or S (Divided)
  T* recorded;
  T* grad_w;
  __device__ void operator()(int64_t row, int64_t i, double (&v)[3]) const {
    using acc_t = typename Acc<T>::type;
    const auto terms = ops::bilinear_terms<acc_t>(acc_t(grad[i]), bilinear_input(w, c, p, row, i), kappa,
                                                  acc_t(alpha[row]), acc_t(gamma[row]));
    grad_w[i] = T(terms.grad_w);
    if (record == ops::Record::TimesInverse) recorded[i] = T(terms.grad_w * scale);
    if (record == ops::Record::Divided) recorded[i] = T(terms.grad_w / scale);
    v[0] += static_cast<double>(terms.g_w);
    v[1] += static_cast<double>(terms.r_b);
    if (p != nullptr) v[2] += static_cast<double>(terms.grad_w * acc_t(p[i]));
  }
};

template <typename T>
struct GradTSum {  // sum g t
  const T* grad;
  const T* t;
  __device__ void operator()(int64_t, int64_t i, double (&v)[1]) const {
    using acc_t = typename Acc<T>::type;
    v[0] += static_cast<double>(acc_t(grad[i]) * acc_t(t[i]));
  }
};

// AdaBin weights: tanh and sqrt of the arithmetic type (CUDA's, correctly rounded sqrt).
__device__ inline float tanh_of(float x) { return tanhf(x); }
__device__ inline double tanh_of(double x) { return tanh(x); }
__device__ inline float sqrt_of(float x) { return sqrtf(x); }
__device__ inline double sqrt_of(double x) { return sqrt(x); }

template <typename A>
struct AdaBinElement {
  A d, u, e;  // w - beta_r, d / alpha_r, adabin_e
};
// kt = T(k) T(t), computed once by the caller.
template <typename A>
__device__ inline AdaBinElement<A> adabin_element(A g, A w, A beta, A alpha, A kt, A t) {
  const A d = w - beta;
  const A u = d / alpha;
  return {d, u, ops::adabin_e(g, alpha, kt, tanh_of(t * u))};
}

template <typename T>
struct ValueSum {  // sum w
  const T* w;
  __device__ void operator()(int64_t, int64_t i, double (&v)[1]) const {
    using acc_t = typename Acc<T>::type;
    v[0] += static_cast<double>(acc_t(w[i]));
  }
};

template <typename T>
struct DeviationSum {  // sum (w - beta_r)^2, the difference and its square in T
  const T* w;
  const T* beta;
  __device__ void operator()(int64_t row, int64_t i, double (&v)[1]) const {
    using acc_t = typename Acc<T>::type;
    const acc_t d = acc_t(w[i]) - acc_t(beta[row]);
    v[0] += static_cast<double>(d * d);
  }
};

template <typename T>
struct AdaBinGradTerms {  // sum g, g s, e, e d, d
  const T* grad;
  const T* w;
  const T* beta;
  const T* alpha;
  const T* k;  // one element each
  const T* t;
  __device__ void operator()(int64_t row, int64_t i, double (&v)[5]) const {
    using acc_t = typename Acc<T>::type;
    const acc_t t_value = acc_t(*t);
    const acc_t g = acc_t(grad[i]);
    const auto x = adabin_element<acc_t>(g, acc_t(w[i]), acc_t(beta[row]), acc_t(alpha[row]), acc_t(*k) * t_value,
                                         t_value);
    v[0] += static_cast<double>(g);
    v[1] += static_cast<double>(g * ops::sign_of(x.u));
    v[2] += static_cast<double>(x.e);
    v[3] += static_cast<double>(x.e * x.d);
    v[4] += static_cast<double>(x.d);
  }
};

// ---- max |t| and its ties ----

// Folds (other_max, other_ties) into (max, ties): the larger max wins, equal maxima add their ties;
// a NaN is neither larger nor equal, so it is skipped.
__device__ inline void merge(double& max, double& ties, double other_max, double other_ties) {
  if (other_max > max) {
    max = other_max;
    ties = other_ties;
  } else if (other_max == max) {
    ties += other_ties;
  }
}

template <typename T>
__global__ void max_ties_kernel(const T* t, RowLaunch s, double* partial) {
  using acc_t = typename Acc<T>::type;
  __shared__ double warp_max[kWarps], warp_ties[kWarps];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  for (int64_t row = blockIdx.x; row < s.rows; row += gridDim.x) {
    double max = 0, ties = 0;  // |t| >= 0: (0, 0) is the identity
    const int64_t first = row * s.cols;
    for (int64_t c = int64_t(blockIdx.y) * kBlock + threadIdx.x; c < s.cols; c += s.chunks * kBlock) {
      merge(max, ties, static_cast<double>(ops::magnitude_of(acc_t(t[first + c]))), 1.0);
    }
    for (int offset = 16; offset > 0; offset /= 2) {
      const double other_max = __shfl_down_sync(0xffffffffu, max, offset);
      const double other_ties = __shfl_down_sync(0xffffffffu, ties, offset);
      merge(max, ties, other_max, other_ties);
    }
    if (lane == 0) {
      warp_max[warp] = max;
      warp_ties[warp] = ties;
    }
    __syncthreads();
    if (warp == 0) {
      max = lane < kWarps ? warp_max[lane] : 0.0;
      ties = lane < kWarps ? warp_ties[lane] : 0.0;
      for (int offset = 16; offset > 0; offset /= 2) {
        const double other_max = __shfl_down_sync(0xffffffffu, max, offset);
        const double other_ties = __shfl_down_sync(0xffffffffu, ties, offset);
        merge(max, ties, other_max, other_ties);
      }
      if (lane == 0) {
        double* out = partial + (row * s.chunks + blockIdx.y) * 2;
        out[0] = max;
        out[1] = ties;
      }
    }
    __syncthreads();
  }
}

// ---- per-row scalars (one thread per row) ----

// mean_r = T(sums_r / cols): XNOR-Net's alpha (sums of |w|), AdaBin's beta (sums of w).
template <typename T>
__global__ void row_mean_kernel(const double* sums, RowLaunch s, T* mean) {
  for (int64_t r = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; r < s.rows; r += int64_t(blockDim.x) * gridDim.x) {
    mean[r] = T(sums[r] / static_cast<double>(s.cols));
  }
}

template <typename T>
__global__ void ternary_threshold_kernel(const double* sums, double delta, RowLaunch s, T* threshold) {
  using acc_t = typename Acc<T>::type;
  for (int64_t r = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; r < s.rows; r += int64_t(blockDim.x) * gridDim.x) {
    threshold[r] = T(acc_t(delta) * acc_t(sums[r] / static_cast<double>(s.cols)));
  }
}

template <typename T>
__global__ void ternary_alpha_kernel(const double* kept, RowLaunch s, T* alpha) {
  for (int64_t r = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; r < s.rows; r += int64_t(blockDim.x) * gridDim.x) {
    const double count = kept[2 * r + 1];
    alpha[r] = T(kept[2 * r] / (count > 1.0 ? count : 1.0));
  }
}

// AdaBin: alpha_r = sqrt(max(v, 1e-24)), v = T(deviations_r / cols) (NaN stays NaN, as clamp_min).
template <typename T>
__global__ void adabin_alpha_kernel(const double* deviations, RowLaunch s, T* alpha) {
  using acc_t = typename Acc<T>::type;
  const acc_t min_variance = acc_t(1e-24);
  for (int64_t r = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; r < s.rows; r += int64_t(blockDim.x) * gridDim.x) {
    const acc_t v = acc_t(deviations[r] / static_cast<double>(s.cols));
    alpha[r] = T(sqrt_of(v < min_variance ? min_variance : v));
  }
}

// AdaBin backward: from the row totals [rows, 5] = (g, g s, e, e d, d), in double, the
// coefficients [rows, 3] of dL/dw = e / alpha + d (dv 2 / cols) + dbeta / cols.
template <typename T>
__global__ void adabin_scalars_kernel(const double* sums, const T* alpha, RowLaunch s, T* scalars) {
  using acc_t = typename Acc<T>::type;
  const double cols = static_cast<double>(s.cols);
  for (int64_t r = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; r < s.rows; r += int64_t(blockDim.x) * gridDim.x) {
    const double* sum = sums + 5 * r;
    const double a = static_cast<double>(acc_t(alpha[r]));
    const double grad_alpha = sum[1] - sum[3] / (a * a);
    const bool clamped = !(a * a > 1e-24);  // the variance was clamped: no gradient through it
    const double grad_v = clamped ? 0.0 : grad_alpha / (2 * a);
    const double grad_beta = sum[0] - sum[2] / a - grad_v * 2 * sum[4] / cols;
    scalars[3 * r] = T(1 / a);
    scalars[3 * r + 1] = T(grad_v * 2 / cols);
    scalars[3 * r + 2] = T(grad_beta / cols);
  }
}

// ---- element-wise passes (grid-stride over rows * cols) ----

template <typename T>
__global__ void scaled_sign_forward_kernel(const T* w, const T* alpha, T* y, RowLaunch s) {
  using acc_t = typename Acc<T>::type;
  const int64_t n = s.rows * s.cols;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(blockDim.x) * gridDim.x) {
    y[i] = T(ops::scaled_sign_value(acc_t(w[i]), acc_t(alpha[i / s.cols])));
  }
}

template <typename T>
__global__ void scaled_sign_backward_kernel(const T* grad, const T* w, const T* alpha, T* grad_w, bool scale_by_alpha,
                                            bool add_mean, RowLaunch s) {
  using acc_t = typename Acc<T>::type;
  const int64_t n = s.rows * s.cols;
  const acc_t inv_cols = acc_t(1.0 / double(s.cols));
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(blockDim.x) * gridDim.x) {
    grad_w[i] = T(ops::scaled_sign_grad(acc_t(grad[i]), acc_t(w[i]), acc_t(alpha[i / s.cols]), inv_cols, scale_by_alpha,
                                        add_mean));
  }
}

template <typename T>
__global__ void ternarize_kernel(const T* w, const T* threshold, const T* alpha, T* y, RowLaunch s) {
  using acc_t = typename Acc<T>::type;
  const int64_t n = s.rows * s.cols;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(blockDim.x) * gridDim.x) {
    const int64_t r = i / s.cols;
    y[i] = T(ops::ternary_value(acc_t(w[i]), acc_t(threshold[r]), acc_t(alpha[r])));
  }
}

template <typename T>
__global__ void bilinear_forward_kernel(const T* w, const T* alpha, typename Acc<T>::type kappa, const T* c,
                                        const T* p, T* y, RowLaunch s) {
  const int64_t n = s.rows * s.cols;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(blockDim.x) * gridDim.x) {
    const int64_t row = i / s.cols;
    y[i] = T(ops::bilinear_value(bilinear_input(w, c, p, row, i), kappa, typename Acc<T>::type(alpha[row])));
  }
}

// max_ties = {M, ties} on the device; M in T, its reciprocals as the CPU kernel takes them.
template <typename T>
__global__ void dorefa_forward_kernel(const T* t, const double* max_ties, typename Acc<T>::type levels, T* y,
                                      int64_t n) {
  using acc_t = typename Acc<T>::type;
  const acc_t inv_two_max = acc_t(1) / (acc_t(2) * acc_t(max_ties[0])), two_over_levels = acc_t(2) / levels;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(blockDim.x) * gridDim.x) {
    y[i] = T(ops::dorefa_weight_value(acc_t(t[i]), inv_two_max, levels, two_over_levels));
  }
}

// dM = -S / M^2 in double (S = sum g t), shared evenly by the ties (none: 0).
template <typename T>
__global__ void dorefa_backward_kernel(const T* grad, const T* t, const double* max_ties, const double* gt_sum,
                                       T* grad_w, int64_t n) {
  using acc_t = typename Acc<T>::type;
  const acc_t max = acc_t(max_ties[0]);
  const double ties = max_ties[1], m = static_cast<double>(max);
  const acc_t per_tie = acc_t(ties > 0 ? -gt_sum[0] / (m * m) / ties : 0.0);
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(blockDim.x) * gridDim.x) {
    grad_w[i] = T(ops::dorefa_weight_grad(acc_t(grad[i]), acc_t(t[i]), max, acc_t(1) / max, per_tie));
  }
}

template <typename T>
__global__ void adabin_forward_kernel(const T* w, const T* beta, const T* alpha, T* y, RowLaunch s) {
  using acc_t = typename Acc<T>::type;
  const int64_t n = s.rows * s.cols;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(blockDim.x) * gridDim.x) {
    const int64_t r = i / s.cols;
    y[i] = T(ops::adabin_value(acc_t(w[i]), acc_t(beta[r]), acc_t(alpha[r])));
  }
}

// dL/dw = e a + d b + c, (a, b, c) = scalars[r]; e recomputed (tanh again) rather than stored.
template <typename T>
__global__ void adabin_backward_kernel(const T* grad, const T* w, const T* beta, const T* alpha, const T* k,
                                       const T* t, const T* scalars, T* grad_w, RowLaunch s) {
  using acc_t = typename Acc<T>::type;
  const acc_t t_value = acc_t(*t);
  const acc_t kt = acc_t(*k) * t_value;
  const int64_t n = s.rows * s.cols;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(blockDim.x) * gridDim.x) {
    const int64_t r = i / s.cols;
    const auto x = adabin_element<acc_t>(acc_t(grad[i]), acc_t(w[i]), acc_t(beta[r]), acc_t(alpha[r]), kt, t_value);
    const T* c = scalars + 3 * r;
    grad_w[i] = T(x.e * acc_t(c[0]) + x.d * acc_t(c[1]) + acc_t(c[2]));
  }
}

}  // namespace

int64_t row_chunks(int64_t cols) {
  const int64_t chunks = (cols + kBlock * 8 - 1) / (kBlock * 8);
  return chunks < kMaxChunks ? chunks : kMaxChunks;
}

void launch_magnitude_sums(DType dtype, const void* w, double* partial, const RowLaunch& shape, cudaStream_t stream) {
  if (empty(shape)) return;
  check_chunks(shape);
  dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    launch_row_sums<1>(MagnitudeSum<T>{static_cast<const T*>(w)}, partial, shape, stream);
  });
  check_launch("magnitude_sums");
}

void launch_scaled_sign_forward(DType dtype, const void* w, const double* sums, void* alpha, void* y,
                                const RowLaunch& shape, cudaStream_t stream) {
  if (shape.rows == 0) return;  // cols == 0 still has its alpha, 0 / 0 as on the CPU
  dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    row_mean_kernel<T><<<grid_for(shape.rows), kBlock, 0, stream>>>(sums, shape, static_cast<T*>(alpha));
    if (shape.cols == 0) return;
    scaled_sign_forward_kernel<T><<<grid_for(shape.rows * shape.cols), kBlock, 0, stream>>>(
        static_cast<const T*>(w), static_cast<const T*>(alpha), static_cast<T*>(y), shape);
  });
  check_launch("scaled_sign_forward");
}

void launch_scaled_sign_backward(DType dtype, const void* grad, const void* w, const void* alpha, void* grad_w,
                                 bool scale_by_alpha, bool add_mean, const RowLaunch& shape, cudaStream_t stream) {
  if (empty(shape)) return;
  dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    scaled_sign_backward_kernel<T><<<grid_for(shape.rows * shape.cols), kBlock, 0, stream>>>(
        static_cast<const T*>(grad), static_cast<const T*>(w), static_cast<const T*>(alpha), static_cast<T*>(grad_w),
        scale_by_alpha, add_mean, shape);
  });
  check_launch("scaled_sign_backward");
}

void launch_ternary_kept_sums(DType dtype, const void* w, const double* sums, double delta, void* threshold,
                              double* partial, const RowLaunch& shape, cudaStream_t stream) {
  if (shape.rows == 0) return;  // cols == 0 still has its thresholds, as on the CPU
  if (shape.cols > 0) check_chunks(shape);
  dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    ternary_threshold_kernel<T><<<grid_for(shape.rows), kBlock, 0, stream>>>(sums, delta, shape,
                                                                             static_cast<T*>(threshold));
    if (shape.cols == 0) return;
    launch_row_sums<2>(KeptSum<T>{static_cast<const T*>(w), static_cast<const T*>(threshold)}, partial, shape,
                       stream);
  });
  check_launch("ternary_kept_sums");
}

void launch_ternarize(DType dtype, const void* w, const void* threshold, const double* kept, void* alpha, void* y,
                      const RowLaunch& shape, cudaStream_t stream) {
  if (shape.rows == 0) return;  // cols == 0 still has its alphas
  dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    ternary_alpha_kernel<T><<<grid_for(shape.rows), kBlock, 0, stream>>>(kept, shape, static_cast<T*>(alpha));
    if (shape.cols == 0) return;
    ternarize_kernel<T><<<grid_for(shape.rows * shape.cols), kBlock, 0, stream>>>(
        static_cast<const T*>(w), static_cast<const T*>(threshold), static_cast<const T*>(alpha), static_cast<T*>(y),
        shape);
  });
  check_launch("ternarize");
}

void launch_bilinear_sign_forward(DType dtype, const void* w, const void* alpha, double kappa,
                                  const BilinearShift& shift, void* y, const RowLaunch& shape, cudaStream_t stream) {
  if (empty(shape)) return;
  dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    using acc_t = typename Acc<T>::type;
    bilinear_forward_kernel<T><<<grid_for(shape.rows * shape.cols), kBlock, 0, stream>>>(
        static_cast<const T*>(w), static_cast<const T*>(alpha), acc_t(kappa), static_cast<const T*>(shift.c),
        static_cast<const T*>(shift.p), static_cast<T*>(y), shape);
  });
  check_launch("bilinear_sign_forward");
}

void launch_bilinear_sign_backward(DType dtype, const void* grad, const void* w, const void* alpha, const void* gamma,
                                   double kappa, const BilinearShift& shift, const BilinearRecord& record,
                                   void* grad_w, double* partial, const RowLaunch& shape, cudaStream_t stream) {
  if (empty(shape)) return;
  check_chunks(shape);
  dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    using acc_t = typename Acc<T>::type;
    launch_row_sums<3>(BilinearGrad<T>{static_cast<const T*>(grad), static_cast<const T*>(w),
                                       static_cast<const T*>(alpha), static_cast<const T*>(gamma),
                                       static_cast<const T*>(shift.c), static_cast<const T*>(shift.p), acc_t(kappa),
                                       record.mode, acc_t(ops::record_operand(record.mode, record.scale)), static_cast<T*>(record.recorded),
                                       static_cast<T*>(grad_w)},
                       partial, shape, stream);
  });
  check_launch("bilinear_sign_backward");
}

void launch_dorefa_max_ties(DType dtype, const void* t, double* partial, const RowLaunch& shape, cudaStream_t stream) {
  if (empty(shape)) return;
  check_chunks(shape);
  dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    max_ties_kernel<T><<<row_grid(shape), kBlock, 0, stream>>>(static_cast<const T*>(t), shape, partial);
  });
  check_launch("dorefa_max_ties");
}

void launch_dorefa_weight_forward(DType dtype, const void* t, const double* max_ties, double levels, void* y,
                                  int64_t n, cudaStream_t stream) {
  if (n == 0) return;
  dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    using acc_t = typename Acc<T>::type;
    dorefa_forward_kernel<T><<<grid_for(n), kBlock, 0, stream>>>(static_cast<const T*>(t), max_ties, acc_t(levels),
                                                                 static_cast<T*>(y), n);
  });
  check_launch("dorefa_weight_forward");
}

void launch_dorefa_gt_sums(DType dtype, const void* grad, const void* t, double* partial, const RowLaunch& shape,
                           cudaStream_t stream) {
  if (empty(shape)) return;
  check_chunks(shape);
  dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    launch_row_sums<1>(GradTSum<T>{static_cast<const T*>(grad), static_cast<const T*>(t)}, partial, shape, stream);
  });
  check_launch("dorefa_gt_sums");
}

void launch_dorefa_weight_backward(DType dtype, const void* grad, const void* t, const double* max_ties,
                                   const double* gt_sum, void* grad_w, int64_t n, cudaStream_t stream) {
  if (n == 0) return;
  dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    dorefa_backward_kernel<T><<<grid_for(n), kBlock, 0, stream>>>(static_cast<const T*>(grad), static_cast<const T*>(t),
                                                                  max_ties, gt_sum, static_cast<T*>(grad_w), n);
  });
  check_launch("dorefa_weight_backward");
}

void launch_adabin_weight_sums(DType dtype, const void* w, double* partial, const RowLaunch& shape,
                               cudaStream_t stream) {
  if (empty(shape)) return;
  check_chunks(shape);
  dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    launch_row_sums<1>(ValueSum<T>{static_cast<const T*>(w)}, partial, shape, stream);
  });
  check_launch("adabin_weight_sums");
}

void launch_adabin_deviation_sums(DType dtype, const void* w, const double* sums, void* beta, double* partial,
                                  const RowLaunch& shape, cudaStream_t stream) {
  if (shape.rows == 0) return;  // cols == 0 still has its betas, 0 / 0 as on the CPU
  if (shape.cols > 0) check_chunks(shape);
  dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    row_mean_kernel<T><<<grid_for(shape.rows), kBlock, 0, stream>>>(sums, shape, static_cast<T*>(beta));
    if (shape.cols == 0) return;
    launch_row_sums<1>(DeviationSum<T>{static_cast<const T*>(w), static_cast<const T*>(beta)}, partial, shape,
                       stream);
  });
  check_launch("adabin_deviation_sums");
}

void launch_adabin_weight_forward(DType dtype, const void* w, const void* beta, const double* deviations, void* alpha,
                                  void* y, const RowLaunch& shape, cudaStream_t stream) {
  if (shape.rows == 0) return;  // cols == 0 still has its alphas
  dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    adabin_alpha_kernel<T><<<grid_for(shape.rows), kBlock, 0, stream>>>(deviations, shape, static_cast<T*>(alpha));
    if (shape.cols == 0) return;
    adabin_forward_kernel<T><<<grid_for(shape.rows * shape.cols), kBlock, 0, stream>>>(
        static_cast<const T*>(w), static_cast<const T*>(beta), static_cast<const T*>(alpha), static_cast<T*>(y),
        shape);
  });
  check_launch("adabin_weight_forward");
}

void launch_adabin_weight_grad_sums(DType dtype, const void* grad, const void* w, const void* beta, const void* alpha,
                                    const void* k, const void* t, double* partial, const RowLaunch& shape,
                                    cudaStream_t stream) {
  if (empty(shape)) return;
  check_chunks(shape);
  dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    launch_row_sums<5>(AdaBinGradTerms<T>{static_cast<const T*>(grad), static_cast<const T*>(w),
                                          static_cast<const T*>(beta), static_cast<const T*>(alpha),
                                          static_cast<const T*>(k), static_cast<const T*>(t)},
                       partial, shape, stream);
  });
  check_launch("adabin_weight_grad_sums");
}

void launch_adabin_weight_backward(DType dtype, const void* grad, const void* w, const void* beta, const void* alpha,
                                   const void* k, const void* t, const double* sums, void* scalars, void* grad_w,
                                   const RowLaunch& shape, cudaStream_t stream) {
  if (empty(shape)) return;  // no element to write
  dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    adabin_scalars_kernel<T><<<grid_for(shape.rows), kBlock, 0, stream>>>(sums, static_cast<const T*>(alpha), shape,
                                                                          static_cast<T*>(scalars));
    adabin_backward_kernel<T><<<grid_for(shape.rows * shape.cols), kBlock, 0, stream>>>(
        static_cast<const T*>(grad), static_cast<const T*>(w), static_cast<const T*>(beta),
        static_cast<const T*>(alpha), static_cast<const T*>(k), static_cast<const T*>(t),
        static_cast<const T*>(scalars), static_cast<T*>(grad_w), shape);
  });
  check_launch("adabin_weight_backward");
}

}  // namespace lowbit::kernels::cuda
