// Binary linear layer on packed bits (kernels/binary_gemm.h) against torch::matmul of the same
// shapes in float32 and bfloat16, measured in the same run: C[M, N] = A[M, K] B[N, K]^T, the
// binary time including the packing of A (the activations; B, the weight, is packed once, as a
// deployed layer holds it). Prints each median time and the ratios matmul / binary.
//   CPU (default): 1024^3, 256 x 4096^2 and the batch-1 GEMV 1 x 4096^2; then the binary 3x3
//     convolution (kernels/binary_conv.h, packing of the input included) against torch::conv2d at
//     ResNet-18's four stage shapes, batch 16.
//   --device cuda: 4096^3 and 8192^3 against cuBLAS in bf16 and in fp32 with TF32 off; the binary
//     GEMM on the b1 tensor cores (where the GPU has them) and on popcounts, each without and with
//     the packing of A.
//   build/bench/binary_gemm_bench [--device cpu|cuda] [--repeats N]
#include <lowbit/csrc/kernels/binary_conv.h>
#include <lowbit/csrc/kernels/binary_gemm.h>
#include <lowbit/config.h>

#include <ATen/Context.h>
#include <torch/cuda.h>
#include <torch/torch.h>

#include "median_time.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

namespace kernels = lowbit::kernels;
using lowbit::bench::median_seconds;

namespace {

std::string shape_name(int64_t m, int64_t n, int64_t k) {
  return std::to_string(m) + "x" + std::to_string(n) + "x" + std::to_string(k);
}

void cpu_gemm_table(int repeats) {
  std::printf("binary path %s, %d threads, median of %d runs\n", kernels::to_string(kernels::cpu_binary_isa()).c_str(),
              torch::get_num_threads(), repeats);
  std::printf("%-16s %10s %10s %10s %10s %12s %12s\n", "M x N x K", "fp32 ms", "bf16 ms", "binary ms", "gemm ms",
              "fp32/binary", "bf16/binary");
  const std::vector<std::array<int64_t, 3>> shapes = {{1024, 1024, 1024}, {256, 4096, 4096}, {1, 4096, 4096}};
  for (const auto& [m, n, k] : shapes) {
    const auto a = torch::randn({m, k}), b = torch::randn({n, k});
    const auto bt = b.t().contiguous();
    const auto a16 = a.to(torch::kBFloat16), bt16 = bt.to(torch::kBFloat16);
    const auto b_bits = kernels::pack_sign_bits(b);
    const auto a_bits = kernels::pack_sign_bits(a);
    const double fp32 = median_seconds([&] { (void)torch::matmul(a, bt); }, repeats);
    const double bf16 = median_seconds([&] { (void)torch::matmul(a16, bt16); }, repeats);
    const double binary =
        median_seconds([&] { (void)kernels::binary_gemm(kernels::pack_sign_bits(a), b_bits, k); }, repeats);
    const double gemm = median_seconds([&] { (void)kernels::binary_gemm(a_bits, b_bits, k); }, repeats);
    std::printf("%-16s %10.3f %10.3f %10.3f %10.3f %12.1f %12.1f\n", shape_name(m, n, k).c_str(), fp32 * 1e3,
                bf16 * 1e3, binary * 1e3, gemm * 1e3, fp32 / binary, bf16 / binary);
  }
}

void cpu_conv_table(int repeats) {
  std::printf("\n%-22s %10s %10s %10s %12s %12s\n", "3x3 conv, batch 16", "fp32 ms", "bf16 ms", "binary ms",
              "fp32/binary", "bf16/binary");
  for (const auto& [channels, size] : std::vector<std::array<int64_t, 2>>{{64, 56}, {128, 28}, {256, 14}, {512, 7}}) {
    const auto x = torch::randn({16, channels, size, size}), w = torch::randn({channels, channels, 3, 3});
    const auto x16 = x.to(torch::kBFloat16), w16 = w.to(torch::kBFloat16);
    const auto [bits, tap_sums] = kernels::pack_conv_weight(w);
    const kernels::BinaryConvGeometry geometry{channels, {3, 3}, {1, 1}, {1, 1}};
    const double fp32 = median_seconds([&] { (void)torch::conv2d(x, w, {}, 1, 1); }, repeats);
    const double bf16 = median_seconds([&] { (void)torch::conv2d(x16, w16, {}, 1, 1); }, repeats);
    const double binary = median_seconds(
        [&] { (void)kernels::binary_conv2d(kernels::pack_pixels(x), bits, tap_sums, geometry); }, repeats);
    const std::string shape = std::to_string(channels) + "ch " + std::to_string(size) + "x" + std::to_string(size);
    std::printf("%-22s %10.3f %10.3f %10.3f %12.1f %12.1f\n", shape.c_str(), fp32 * 1e3, bf16 * 1e3, binary * 1e3,
                fp32 / binary, bf16 / binary);
  }
}

#ifdef LOWBIT_WITH_CUDA
// The ratios are against the tensor-core GEMM with the packing of A (the popcount one where the
// GPU has no b1 tensor cores).
void cuda_gemm_table(int repeats) {
  at::globalContext().setFloat32MatmulPrecision("highest");  // fp32 is fp32: TF32 off
  const auto sync = [] { torch::cuda::synchronize(); };
  const torch::Device device(torch::kCUDA);
  std::printf("CUDA, TF32 for cuBLAS fp32 %s, median of %d runs; tc: b1 tensor cores, pop: popcounts, +pack: "
              "with the packing of A\n",
              at::globalContext().allowTF32CuBLAS() ? "on" : "off", repeats);
  std::printf("%-16s %9s %9s %9s %9s %9s %9s %11s %11s\n", "M x N x K", "fp32 ms", "bf16 ms", "tc ms", "tc+pack",
              "pop ms", "pop+pack", "fp32/binary", "bf16/binary");
  for (const int64_t size : {4096, 8192}) {
    const int64_t m = size, n = size, k = size;
    const auto a = torch::randn({m, k}, device), bt = torch::randn({k, n}, device);
    const auto a16 = a.to(torch::kBFloat16), bt16 = bt.to(torch::kBFloat16);
    const auto a_bits = kernels::pack_sign_bits(a), b_bits = kernels::pack_sign_bits(bt.t().contiguous());
    const auto gemm = [&](kernels::CudaBinaryPath path, bool pack) {
      return median_seconds(
          [&] { (void)kernels::cuda::binary_gemm(pack ? kernels::pack_sign_bits(a) : a_bits, b_bits, k, path); },
          repeats, sync);
    };
    const double fp32 = median_seconds([&] { (void)torch::matmul(a, bt); }, repeats, sync);
    const double bf16 = median_seconds([&] { (void)torch::matmul(a16, bt16); }, repeats, sync);
    const bool tensor_cores = kernels::cuda::binary_path(a_bits, b_bits) == kernels::CudaBinaryPath::TensorCore;
    const double tc = tensor_cores ? gemm(kernels::CudaBinaryPath::TensorCore, false) : 0;
    const double tc_pack = tensor_cores ? gemm(kernels::CudaBinaryPath::TensorCore, true) : 0;
    const double pop = gemm(kernels::CudaBinaryPath::Popcount, false);
    const double pop_pack = gemm(kernels::CudaBinaryPath::Popcount, true);
    const double binary = tensor_cores ? tc_pack : pop_pack;
    std::printf("%-16s %9.3f %9.3f %9.3f %9.3f %9.3f %9.3f %11.2f %11.2f\n", shape_name(m, n, k).c_str(), fp32 * 1e3,
                bf16 * 1e3, tc * 1e3, tc_pack * 1e3, pop * 1e3, pop_pack * 1e3, fp32 / binary, bf16 / binary);
  }
}
#endif

}  // namespace

int main(int argc, char** argv) {
  int repeats = 11;
  std::string device = "cpu";
  for (int i = 1; i < argc; i += 2) {
    const std::string flag = i + 1 < argc ? argv[i] : "";
    if (flag == "--repeats") {
      repeats = std::max(1, std::stoi(argv[i + 1]));
    } else if (flag == "--device" && (std::string(argv[i + 1]) == "cpu" || std::string(argv[i + 1]) == "cuda")) {
      device = argv[i + 1];
    } else {
      std::fprintf(stderr, "usage: %s [--device cpu|cuda] [--repeats N]\n", argv[0]);
      return 2;
    }
  }
  torch::manual_seed(0);
  if (device == "cpu") {
    cpu_gemm_table(repeats);
    cpu_conv_table(repeats);
    return 0;
  }
#ifdef LOWBIT_WITH_CUDA
  if (torch::cuda::is_available()) {
    cuda_gemm_table(repeats);
    return 0;
  }
#endif
  std::fprintf(stderr, "binary_gemm_bench: --device cuda needs a GPU and lowbit's CUDA kernels\n");
  return 1;
}
