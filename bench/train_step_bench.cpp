// One training step (forward, cross-entropy, backward, SGD step) of a low-bit network against its
// real-valued twin, measured in the same run: the time ratio and the peak-memory ratio.
//   ReActNet ResNet-18 (rsign + xnor, detached scale) vs torchvision's ResNet-18, at CIFAR shapes
//   (32x32, small_input stem, 10 classes) and ImageNet shapes (224x224, 1000 classes);
//   Q-ViT DeiT-Small W4A4 (lsq per channel + qvit_act, 4-bit attention) vs DeiT-Small.
// Peak memory is every tensor the step holds at once, the model's parameters, gradients and
// optimizer state included: on the CPU counted by util::CpuMemoryCounter, on CUDA by the caching
// allocator's statistics.
//   build/bench/train_step_bench [--device cpu|cuda] [--repeats N] [--only resnet_cifar|resnet_imagenet|deit]
//                                [--cifar-batch 128] [--imagenet-batch 32]
#include <lowbit/lowbit.h>
#include <lowbit/csrc/util/cpu_memory.h>

#ifdef LOWBIT_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#endif

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

namespace {

using lowbit::models::QuantPolicy;

struct Network {
  std::string model;
  lowbit::Params params;
  QuantPolicy policy;
};

struct Pair {
  std::string label;
  Network low_bit, real;
  int64_t batch, size, classes;
};

struct Measured {
  double seconds;
  int64_t peak_bytes;
};

void synchronize(const torch::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize();
}

// Peak bytes of tensor memory since the last reset, on either device.
class PeakMemory {
 public:
  explicit PeakMemory(const torch::Device& device) : device_(device) {
    if (!device.is_cuda()) cpu_ = std::make_unique<lowbit::util::CpuMemoryCounter>();
  }
  void reset() {
    if (cpu_) return cpu_->reset_peak();
#ifdef LOWBIT_WITH_CUDA
    c10::cuda::CUDACachingAllocator::resetPeakStats(device_.index() < 0 ? 0 : device_.index());
#endif
  }
  int64_t peak() const {
    if (cpu_) return cpu_->peak_bytes();
#ifdef LOWBIT_WITH_CUDA
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device_.index() < 0 ? 0 : device_.index());
    return stats.allocated_bytes[static_cast<size_t>(c10::CachingAllocator::StatType::AGGREGATE)].peak;
#else
    return 0;
#endif
  }

 private:
  torch::Device device_;
  std::unique_ptr<lowbit::util::CpuMemoryCounter> cpu_;
};

// Median step time after two warm-up steps (the first initialises LSQ's steps), and the peak
// memory of one step with the model, its gradients and the optimizer's momentum in place.
Measured measure(const Network& n, const Pair& pair, const torch::Device& device, int repeats) {
  PeakMemory memory(device);
  torch::manual_seed(0);
  auto model = lowbit::models::make(n.model, n.params, n.policy);
  model->to(device);
  model->train();
  torch::optim::SGD optimizer(model->parameters(), torch::optim::SGDOptions(0.01).momentum(0.9).weight_decay(1e-4));
  const auto images = torch::randn({pair.batch, 3, pair.size, pair.size}, device);
  const auto labels = torch::randint(pair.classes, {pair.batch}, torch::TensorOptions(device).dtype(torch::kLong));
  const auto step = [&] {
    optimizer.zero_grad();
    torch::nn::functional::cross_entropy(model->forward(images), labels).backward();
    optimizer.step();
  };
  step();
  step();
  synchronize(device);
  memory.reset();
  std::vector<double> times;
  for (int i = 0; i < repeats; ++i) {
    const auto start = std::chrono::steady_clock::now();
    step();
    synchronize(device);
    times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  std::nth_element(times.begin(), times.begin() + repeats / 2, times.end());
  return {times[repeats / 2], memory.peak()};
}

QuantPolicy reactnet_policy() {
  QuantPolicy p;
  p.weight = {"xnor", {{"scale_grad", "detached"}}};
  p.input = {"rsign", {}};
  return p;
}

QuantPolicy qvit_w4a4_policy() {
  QuantPolicy p;
  p.weight = {"lsq", {{"bits", 4}, {"per_channel", true}, {"init_per_channel", false}}};
  p.input = {"qvit_act", {{"bits", 4}}};
  return p;
}

std::vector<Pair> pairs(int64_t cifar_batch, int64_t imagenet_batch) {
  const lowbit::Params cifar{{"small_input", true}, {"classes", 10}};
  const lowbit::Params qvit{{"embed_bits", 8}, {"head_bits", 8}, {"attention_bits", 4}, {"irm", true}, {"gelu_clip", 10.0}};
  return {
      {"resnet_cifar", {"reactnet_resnet18", cifar, reactnet_policy()}, {"resnet18", cifar, {}}, cifar_batch, 32, 10},
      {"resnet_imagenet", {"reactnet_resnet18", {}, reactnet_policy()}, {"resnet18", {}, {}}, imagenet_batch, 224, 1000},
      {"deit", {"deit_small", qvit, qvit_w4a4_policy()}, {"deit_small", {}, {}}, imagenet_batch, 224, 1000},
  };
}

}  // namespace

int main(int argc, char** argv) {
  torch::Device device(torch::kCPU);
  int repeats = 5;
  int64_t cifar_batch = 128, imagenet_batch = 32;
  std::string only;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--device") device = torch::Device(argv[i + 1]);
    else if (flag == "--repeats") repeats = std::stoi(argv[i + 1]);
    else if (flag == "--only") only = argv[i + 1];
    else if (flag == "--cifar-batch") cifar_batch = std::stoll(argv[i + 1]);
    else if (flag == "--imagenet-batch") imagenet_batch = std::stoll(argv[i + 1]);
    else {
      std::fprintf(stderr,
                   "usage: %s [--device cpu|cuda] [--repeats N] [--only resnet_cifar|resnet_imagenet|deit] "
                   "[--cifar-batch N] [--imagenet-batch N]\n", argv[0]);
      return 2;
    }
  }
  std::printf("device %s, %d intra-op threads, median of %d steps; low-bit / real-valued\n", device.str().c_str(),
              at::get_num_threads(), repeats);
  std::printf("%-16s %-26s %6s %10s %10s %7s %11s %11s %7s\n", "pair", "low-bit model", "batch", "low ms", "real ms",
              "time", "low MiB", "real MiB", "memory");
  for (const auto& pair : pairs(cifar_batch, imagenet_batch)) {
    if (!only.empty() && pair.label != only) continue;
    const auto low = measure(pair.low_bit, pair, device, repeats);
    const auto real = measure(pair.real, pair, device, repeats);
    std::printf("%-16s %-26s %6lld %10.1f %10.1f %6.3fx %11.1f %11.1f %6.3fx\n", pair.label.c_str(),
                pair.low_bit.model.c_str(), static_cast<long long>(pair.batch), low.seconds * 1e3, real.seconds * 1e3,
                low.seconds / real.seconds, low.peak_bytes / 1048576.0, real.peak_bytes / 1048576.0,
                static_cast<double>(low.peak_bytes) / static_cast<double>(real.peak_bytes));
  }
  return 0;
}
