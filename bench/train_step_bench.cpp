// One training step (forward, cross-entropy, backward, SGD step) of a low-bit network against its
// real-valued twin, measured in the same run: the time ratio and the peak-memory ratio.
//   ReActNet ResNet-18 (rsign + xnor, detached scale) vs torchvision's ResNet-18, at CIFAR shapes
//   (32x32, small_input stem, 10 classes) and ImageNet shapes (224x224, 1000 classes);
//   Q-ViT DeiT-Small W4A4 (lsq per channel + qvit_act, 4-bit attention) vs DeiT-Small.
// Peak memory is every tensor a step holds at once, the model's parameters, gradients and
// optimizer state included, each network measured alone: on the CPU counted by
// util::CpuMemoryCounter, on CUDA by the caching allocator's statistics. The times are medians
// of alternating steps of the two networks. A step is the engine's (engine/optim/optim_step.h);
// --amp runs the forward under autocast as train.amp does (fp16: CUDA, with loss scaling; bf16).
// The C heap keeps freed memory, as `lowbit train` has it (csrc/util/heap.h). The ReActNet pairs
// run twice: with the binary convolutions' forward on the packed kernels (ops::conv2d_of, the
// default where the CPU has AVX-512 VPOPCNTDQ) and with it off (at::conv2d), each row its own
// alternating run.
//   build/bench/train_step_bench [--device cpu|cuda] [--repeats N] [--only resnet_cifar|resnet_imagenet|deit]
//                                [--cifar-batch 128] [--imagenet-batch 32] [--amp off|fp16|bf16]
#include <lowbit/csrc/util/heap.h>
#include <lowbit/lowbit.h>
#include <lowbit/csrc/engine/optim/mixed_precision.h>
#include <lowbit/csrc/engine/optim/optim_step.h>
#include <lowbit/csrc/util/cpu_memory.h>

#ifdef LOWBIT_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#endif

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace {

using lowbit::engine::Amp;
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

// A network ready to train on the pair's random batch.
struct Trainer {
  torch::nn::Sequential model;
  std::unique_ptr<torch::optim::SGD> optimizer;
  std::unique_ptr<lowbit::engine::OptimStep> optim_step;
  torch::Tensor images, labels;
  Amp amp;

  Trainer(const Network& n, const Pair& pair, const torch::Device& device, Amp amp_) : amp(amp_) {
    torch::manual_seed(0);
    model = lowbit::models::make(n.model, n.params, n.policy);
    model->to(device);
    model->train();
    optimizer = std::make_unique<torch::optim::SGD>(model->parameters(),
                                                    torch::optim::SGDOptions(0.01).momentum(0.9).weight_decay(1e-4));
    optim_step = std::make_unique<lowbit::engine::OptimStep>(*optimizer, model->parameters(), 0.0, amp == Amp::Float16);
    images = torch::randn({pair.batch, 3, pair.size, pair.size}, device);
    labels = torch::randint(pair.classes, {pair.batch}, torch::TensorOptions(device).dtype(torch::kLong));
  }
  void step() {
    torch::Tensor loss;
    {
      const lowbit::engine::AutocastScope autocast(amp, images.device().type());
      loss = torch::nn::functional::cross_entropy(model->forward(images), labels);
    }
    (*optim_step)(loss);
  }
};

// Peak bytes of one network training alone: its parameters, gradients, momentum and one step's
// activations, after two warm-up steps (the first initialises LSQ's steps).
int64_t peak_bytes(const Network& n, const Pair& pair, const torch::Device& device, Amp amp) {
  PeakMemory memory(device);
  Trainer trainer(n, pair, device, amp);
  trainer.step();
  trainer.step();
  synchronize(device);
  memory.reset();
  trainer.step();
  synchronize(device);
  return memory.peak();
}

double seconds_of(Trainer& trainer, const torch::Device& device) {
  const auto start = std::chrono::steady_clock::now();
  trainer.step();
  synchronize(device);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

double median(std::vector<double> v) {
  std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
  return v[v.size() / 2];
}

// Median step times of the two networks, their steps alternating so that a change in the
// machine's speed during the run touches both.
std::pair<double, double> step_seconds(const Pair& pair, const torch::Device& device, int repeats, Amp amp) {
  Trainer low(pair.low_bit, pair, device, amp), real(pair.real, pair, device, amp);
  for (auto* t : {&low, &real}) {
    t->step();
    t->step();
  }
  std::vector<double> low_times, real_times;
  for (int i = 0; i < repeats; ++i) {
    low_times.push_back(seconds_of(low, device));
    real_times.push_back(seconds_of(real, device));
  }
  return {median(low_times), median(real_times)};
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
  lowbit::util::keep_freed_memory_in_heap();
  torch::Device device(torch::kCPU);
  int repeats = 5;
  int64_t cifar_batch = 128, imagenet_batch = 32;
  std::string only;
  Amp amp = Amp::Off;
  for (int i = 1; i < argc; i += 2) {
    const std::string flag = i + 1 < argc ? argv[i] : "";  // a flag without its value: the usage
    if (flag == "--device") device = torch::Device(argv[i + 1]);
    else if (flag == "--repeats") repeats = std::stoi(argv[i + 1]);
    else if (flag == "--only") only = argv[i + 1];
    else if (flag == "--cifar-batch") cifar_batch = std::stoll(argv[i + 1]);
    else if (flag == "--imagenet-batch") imagenet_batch = std::stoll(argv[i + 1]);
    else if (flag == "--amp") amp = lowbit::engine::parse_amp(argv[i + 1]);
    else {
      std::fprintf(stderr,
                   "usage: %s [--device cpu|cuda] [--repeats N] [--only resnet_cifar|resnet_imagenet|deit] "
                   "[--cifar-batch N] [--imagenet-batch N] [--amp off|fp16|bf16]\n", argv[0]);
      return 2;
    }
  }
  std::printf("device %s, amp %s, %d intra-op threads, median of %d alternating steps; low-bit / real-valued\n",
              device.str().c_str(), lowbit::engine::to_string(amp).c_str(), at::get_num_threads(), repeats);
  std::printf("%-16s %-32s %6s %10s %10s %7s %11s %11s %7s\n", "pair", "low-bit model", "batch", "low ms", "real ms",
              "time", "low MiB", "real MiB", "memory");
  for (const auto& pair : pairs(cifar_batch, imagenet_batch)) {
    if (!only.empty() && pair.label != only) continue;
    const bool binary = pair.low_bit.policy.weight.name == "xnor";
    for (const bool packed : binary ? std::vector<bool>{true, false} : std::vector<bool>{true}) {
      lowbit::ops::set_packed_binary_forward(packed);
      const auto low_peak = peak_bytes(pair.low_bit, pair, device, amp), real_peak = peak_bytes(pair.real, pair, device, amp);
      const auto [low, real] = step_seconds(pair, device, repeats, amp);
      const auto label = pair.low_bit.model + (binary ? (packed ? " (packed fwd)" : " (float fwd)") : "");
      std::printf("%-16s %-32s %6lld %10.1f %10.1f %6.3fx %11.1f %11.1f %6.3fx\n", pair.label.c_str(), label.c_str(),
                  static_cast<long long>(pair.batch), low * 1e3, real * 1e3, low / real, low_peak / 1048576.0,
                  real_peak / 1048576.0, static_cast<double>(low_peak) / static_cast<double>(real_peak));
    }
  }
  lowbit::ops::set_packed_binary_forward(true);
  return 0;
}
