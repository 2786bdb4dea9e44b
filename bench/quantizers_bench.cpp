// Forward + backward time of every quantizer on a 64x256x56x56 activation and a 512x512x3x3
// weight, as a ratio to a plain copy of the same tensor (x.clone()) timed in the same run, just
// before that quantizer. The C heap
// keeps freed memory, as `lowbit train` has it (csrc/util/heap.h).
//   build/bench/quantizers_bench [--device cuda] [--repeats N] [--only TEXT]
#include <lowbit/csrc/util/heap.h>
#include <lowbit/lowbit.h>

#include "median_time.h"

#include <algorithm>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

namespace {

struct Subject {
  std::string label, quantizer;
  lowbit::Params params;
  bool activation;  // else weight
};

void synchronize(const torch::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize();
}

// Median seconds of `repeats` runs of fn after one warm-up run.
double median_seconds(const std::function<void()>& fn, int repeats, const torch::Device& device) {
  return lowbit::bench::median_seconds(fn, repeats, [&] { synchronize(device); });
}

}  // namespace

int main(int argc, char** argv) {
  lowbit::util::keep_freed_memory_in_heap();
  torch::Device device(torch::kCPU);
  int repeats = 5;
  std::string only;  // only the rows whose label holds this text ("rbonn", "dorefa weight")
  for (int i = 1; i < argc; i += 2) {
    const std::string flag = i + 1 < argc ? argv[i] : "";  // a flag without its value: the usage
    if (flag == "--device") device = torch::Device(argv[i + 1]);
    else if (flag == "--repeats") repeats = std::stoi(argv[i + 1]);
    else if (flag == "--only") only = argv[i + 1];
    else {
      std::fprintf(stderr, "usage: %s [--device cpu|cuda] [--repeats N] [--only TEXT]\n", argv[0]);
      return 2;
    }
  }
  torch::manual_seed(0);
  const auto activation = torch::randn({64, 256, 56, 56}, device);
  const auto weight = torch::randn({512, 512, 3, 3}, device) * 0.05;
  const std::vector<Subject> subjects = {
      {"sign (clipped)", "sign", {{"ste", "clipped"}}, true},
      {"sign (approx)", "sign", {{"ste", "approx"}}, true},
      {"rsign", "rsign", {{"channels", 256}}, true},
      {"lsq 4-bit unsigned", "lsq", {{"bits", 4}, {"signed", false}}, true},
      {"lsq_plus 4-bit", "lsq_plus", {{"bits", 4}}, true},
      {"dorefa act 2-bit", "dorefa", {{"bits", 2}, {"target", "activation"}}, true},
      {"qvit_act 4-bit", "qvit_act", {{"bits", 4}, {"channels", 256}, {"channel_dim", 1}}, true},
      {"adabin_act", "adabin_act", {}, true},
      {"xnor", "xnor", {}, false},
      {"ternary", "ternary", {}, false},
      {"lsq 2-bit per-channel", "lsq", {{"bits", 2}, {"per_channel", true}, {"channels", 512}}, false},
      {"dorefa weight 2-bit", "dorefa", {{"bits", 2}}, false},
      {"rebnn", "rebnn", {{"channels", 512}}, false},
      {"rbonn", "rbonn", {{"channels", 512}}, false},
      {"idadet", "idadet", {{"channels", 512}}, false},
      {"adabin", "adabin", {}, false},
  };

  std::printf("device %s, median of %d runs, forward+backward / copy of the same tensor\n",
              device.str().c_str(), repeats);
  std::printf("%-24s %-18s %12s %12s %8s\n", "quantizer", "tensor", "quant ms", "copy ms", "ratio");
  for (const auto* tensor : {&activation, &weight}) {
    const bool is_activation = tensor == &activation;
    for (const auto& s : subjects) {
      if (s.activation != is_activation || s.label.find(only) == std::string::npos) continue;
      // The copy timed next to each quantizer: one copy timing per tensor swung up to 5x on a shared VM.
      const double copy = median_seconds([&] { (void)tensor->clone(); }, repeats, device);
      auto q = lowbit::quant::make(s.quantizer, s.params);
      q->to(device);
      const auto input = tensor->detach().requires_grad_(true);
      const auto upstream = torch::ones_like(*tensor);
      // autograd::grad returns the input gradient instead of accumulating it into input.grad().
      const double t = median_seconds([&] { torch::autograd::grad({q(input)}, {input}, {upstream}); }, repeats, device);
      std::printf("%-24s %-18s %12.2f %12.2f %8.2f\n", s.label.c_str(), is_activation ? "64x256x56x56" : "512x512x3x3",
                  t * 1e3, copy * 1e3, t / copy);
    }
  }
  return 0;
}
