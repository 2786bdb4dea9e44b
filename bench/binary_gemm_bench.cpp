// Binary linear layer on packed bits (kernels/binary_gemm.h) against torch::matmul of the same
// shapes in float32 and bfloat16, measured in the same run: C[M, N] = A[M, K] B[N, K]^T, the
// binary time including the packing of A (the activations; B, the weight, is packed once, as a
// deployed layer holds it). Prints each median time and the ratios matmul / binary. Then the
// binary 3x3 convolution (kernels/binary_conv.h, packing of the input included) against
// torch::conv2d at ResNet-18's four stage shapes, batch 16.
//   build/bench/binary_gemm_bench [--repeats N]
#include <lowbit/csrc/kernels/binary_conv.h>
#include <lowbit/csrc/kernels/binary_gemm.h>

#include <torch/torch.h>

#include "median_time.h"

#include <algorithm>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

using lowbit::bench::median_seconds;

int main(int argc, char** argv) {
  int repeats = 11;
  for (int i = 1; i < argc; i += 2) {
    const std::string flag = i + 1 < argc ? argv[i] : "";
    if (flag == "--repeats") repeats = std::max(1, std::stoi(argv[i + 1]));
    else {
      std::fprintf(stderr, "usage: %s [--repeats N]\n", argv[0]);
      return 2;
    }
  }
  torch::manual_seed(0);
  std::printf("binary path %s, %d threads, median of %d runs\n", lowbit::kernels::to_string(lowbit::kernels::cpu_binary_isa()).c_str(),
              torch::get_num_threads(), repeats);
  std::printf("%-16s %10s %10s %10s %10s %12s %12s\n", "M x N x K", "fp32 ms", "bf16 ms", "binary ms", "gemm ms",
              "fp32/binary", "bf16/binary");
  const std::vector<std::array<int64_t, 3>> shapes = {{1024, 1024, 1024}, {256, 4096, 4096}, {1, 4096, 4096}};
  for (const auto& [m, n, k] : shapes) {
    const auto a = torch::randn({m, k}), b = torch::randn({n, k});
    const auto bt = b.t().contiguous();
    const auto a16 = a.to(torch::kBFloat16), bt16 = bt.to(torch::kBFloat16);
    const auto b_bits = lowbit::kernels::pack_sign_bits(b);
    const auto a_bits = lowbit::kernels::pack_sign_bits(a);
    const double fp32 = median_seconds([&] { (void)torch::matmul(a, bt); }, repeats);
    const double bf16 = median_seconds([&] { (void)torch::matmul(a16, bt16); }, repeats);
    const double binary = median_seconds(
        [&] { (void)lowbit::kernels::binary_gemm(lowbit::kernels::pack_sign_bits(a), b_bits, k); }, repeats);
    const double gemm = median_seconds([&] { (void)lowbit::kernels::binary_gemm(a_bits, b_bits, k); }, repeats);
    const std::string shape = std::to_string(m) + "x" + std::to_string(n) + "x" + std::to_string(k);
    std::printf("%-16s %10.3f %10.3f %10.3f %10.3f %12.1f %12.1f\n", shape.c_str(), fp32 * 1e3, bf16 * 1e3,
                binary * 1e3, gemm * 1e3, fp32 / binary, bf16 / binary);
  }
  std::printf("\n%-22s %10s %10s %10s %12s %12s\n", "3x3 conv, batch 16", "fp32 ms", "bf16 ms", "binary ms", "fp32/binary",
              "bf16/binary");
  for (const auto& [channels, size] : std::vector<std::array<int64_t, 2>>{{64, 56}, {128, 28}, {256, 14}, {512, 7}}) {
    const auto x = torch::randn({16, channels, size, size}), w = torch::randn({channels, channels, 3, 3});
    const auto x16 = x.to(torch::kBFloat16), w16 = w.to(torch::kBFloat16);
    const auto [bits, tap_sums] = lowbit::kernels::pack_conv_weight(w);
    const lowbit::kernels::BinaryConvGeometry geometry{channels, {3, 3}, {1, 1}, {1, 1}};
    const double fp32 = median_seconds([&] { (void)torch::conv2d(x, w, {}, 1, 1); }, repeats);
    const double bf16 = median_seconds([&] { (void)torch::conv2d(x16, w16, {}, 1, 1); }, repeats);
    const double binary = median_seconds(
        [&] { (void)lowbit::kernels::binary_conv2d(lowbit::kernels::pack_pixels(x), bits, tap_sums, geometry); }, repeats);
    const std::string shape = std::to_string(channels) + "ch " + std::to_string(size) + "x" + std::to_string(size);
    std::printf("%-22s %10.3f %10.3f %10.3f %12.1f %12.1f\n", shape.c_str(), fp32 * 1e3, bf16 * 1e3, binary * 1e3,
                fp32 / binary, bf16 / binary);
  }
  return 0;
}
