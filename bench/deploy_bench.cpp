// The deploy runtime (csrc/deploy) against the training graph in eval mode on LibTorch float32,
// measured in the same run: ReActNet ResNet-18 (binary weights alpha sign(W), RSign inputs, RPReLU)
// at 224x224, batch 1 and 16, random weights. Prints the median times and the ratio eval / deploy;
// how many images' logits agree within 1e-4 of the logits' scale and in their top-1 class (a sign
// that float rounding puts on the other side of its threshold, which the exact integer sums of the
// deployed model and the float sums of the training graph's convolution can do, changes every
// later layer of that image); the export's sizes: the binarized layers packed against float32, and
// the whole .lbm file against the float32 checkpoint (torch::save of the network); the same for
// TerViT's DeiT-Small and Swin-T (ternary block weights, 8-bit activations, the patch embedding
// and heads as 8-bit codes) and Q-ViT's W4A4 DeiT-Small (4-bit codes, the patch embedding and heads
// 8-bit), with their deployed logits against the eval graph's.
//   build/bench/deploy_bench [--repeats N] [--batches 1,16]
#include <lowbit/csrc/deploy/export.h>
#include <lowbit/csrc/deploy/model.h>
#include <lowbit/csrc/util/heap.h>
#include <lowbit/modules/models/registry.h>

#include <torch/torch.h>

#include "median_time.h"

#include <algorithm>
#include <cstdio>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

namespace {

using lowbit::bench::median_seconds;

// Random weights with every part mattering: latent weights, RSign and RPReLU shifts, BN statistics.
void randomise(torch::nn::Module& net) {
  torch::NoGradGuard no_grad;
  for (auto& p : net.named_parameters()) p.value().normal_(0, 0.1);
  for (auto& b : net.named_buffers()) {
    if (b.key().find("running_var") != std::string::npos) b.value().uniform_(0.5, 2.0);
    if (b.key().find("running_mean") != std::string::npos) b.value().normal_(0, 0.1);
  }
}

std::vector<int64_t> parse_list(const std::string& text) {
  std::vector<int64_t> values;
  std::stringstream s(text);
  for (std::string item; std::getline(s, item, ',');) values.push_back(std::stoll(item));
  return values;
}

// A vision transformer (`model`: patch embedding and heads 8-bit, `extra` options) under `policy`,
// initialised by a training-mode forward, exported: its bit planes and codes against float32, the
// file against the float32 checkpoint, and its deployed logits against the eval graph's.
void report_transformer(const char* label, const std::string& model, const lowbit::Params& extra,
                        const lowbit::models::QuantPolicy& policy) {
  torch::manual_seed(1);
  lowbit::Params params{{"embed_bits", int64_t{8}}, {"head_bits", int64_t{8}}};
  for (const auto& [key, value] : extra) params[key] = value;
  auto net = lowbit::models::make(model, params, policy);
  torch::NoGradGuard no_grad;
  net->train();
  net->forward(torch::randn({2, 3, 224, 224}));  // sets the LSQ steps and ActQ states
  net->eval();
  const auto records = lowbit::deploy::export_network(*net, model, {});
  const auto bytes = lowbit::deploy::serialize_lbm(records);
  std::ostringstream checkpoint;
  torch::save(net, checkpoint);
  const auto sizes = lowbit::deploy::packed_sizes(records);
  const auto mib = [](int64_t n) { return static_cast<double>(n) / 1048576.0; };
  std::printf("%s export: bit-plane layers %.2f MiB float32 -> %.2f MiB (%.1fx); multi-bit layers %.2f MiB float32 -> "
              "%.2f MiB codes (%.1fx); file %.2f MiB vs float32 checkpoint %.2f MiB (%.1fx)\n",
              label, mib(sizes.float32), mib(sizes.packed),
              sizes.packed > 0 ? static_cast<double>(sizes.float32) / sizes.packed : 0.0, mib(sizes.codes_float32),
              mib(sizes.codes), sizes.codes > 0 ? static_cast<double>(sizes.codes_float32) / sizes.codes : 0.0,
              mib(static_cast<int64_t>(bytes.size())), mib(static_cast<int64_t>(checkpoint.str().size())),
              static_cast<double>(checkpoint.str().size()) / static_cast<double>(bytes.size()));
  const auto deployed = lowbit::deploy::Model::parse(bytes, model + ".lbm");
  const auto images = torch::randn({2, 3, 224, 224});
  const auto expected = net->forward(images);
  std::printf("%s deployed: max |deploy - eval| %.2e at logits' scale %.2e (batch 2)\n", label,
              (deployed.forward(images) - expected).abs().max().item<double>(), expected.abs().max().item<double>());
}

}  // namespace

int main(int argc, char** argv) {
  lowbit::util::keep_freed_memory_in_heap();  // as the lowbit command: no page faults per forward
  int repeats = 7;
  std::vector<int64_t> batches = {1, 16};
  for (int i = 1; i < argc; i += 2) {
    const std::string flag = i + 1 < argc ? argv[i] : "";
    if (flag == "--repeats") {
      repeats = std::max(1, std::stoi(argv[i + 1]));
    } else if (flag == "--batches") {
      batches = parse_list(argv[i + 1]);
    } else {
      std::fprintf(stderr, "usage: %s [--repeats N] [--batches 1,16]\n", argv[0]);
      return 2;
    }
  }
  torch::manual_seed(0);
  const lowbit::models::QuantPolicy policy{{"xnor", {{"scale_grad", std::string("detached")}}}, {"rsign", {}}, true};
  auto net = lowbit::models::make("reactnet_resnet18", {}, policy);
  randomise(*net);
  net->eval();
  const auto records = lowbit::deploy::export_network(*net, "reactnet_resnet18", {});
  const auto bytes = lowbit::deploy::serialize_lbm(records);
  const auto model = lowbit::deploy::Model::parse(bytes, "reactnet_resnet18.lbm");

  std::ostringstream checkpoint;
  torch::save(net, checkpoint);
  const auto sizes = lowbit::deploy::packed_sizes(records);
  std::printf("ReActNet ResNet-18 export: binarized layers %.2f MiB float32 -> %.3f MiB packed (%.1fx); "
              "file %.2f MiB vs float32 checkpoint %.2f MiB (%.1fx)\n",
              sizes.float32 / 1048576.0, sizes.packed / 1048576.0, static_cast<double>(sizes.float32) / sizes.packed,
              bytes.size() / 1048576.0, checkpoint.str().size() / 1048576.0,
              static_cast<double>(checkpoint.str().size()) / bytes.size());

  // TerViT's DeiT-Small and Swin-T in their second stage (configs/tervit/imagenet_deit.yaml,
  // imagenet_swin.yaml): ternary weights (TWN, per channel) with 8-bit activations, the patch
  // embedding and head 8-bit.
  const lowbit::models::QuantPolicy tervit{
      {"ternary", {{"scale", std::string("twn")}, {"delta", 0.7}, {"per_channel", true}}},
      {"qvit_act", {{"bits", int64_t{8}}}},
      true};
  report_transformer("TerViT DeiT-Small", "deit_small", {{"distilled", true}}, tervit);
  report_transformer("TerViT Swin-T", "swin_tiny", {}, tervit);
  // Q-ViT's W4A4 DeiT-Small (configs/qvit/imagenet_deit_small.yaml): LSQ weights per channel, IRM.
  report_transformer("Q-ViT W4A4 DeiT-Small", "deit_small",
                     {{"distilled", true}, {"attention_bits", int64_t{4}}, {"irm", true}, {"gelu_clip", 10.0}},
                     {{"lsq", {{"bits", int64_t{4}}, {"per_channel", true}, {"init_per_channel", false}}},
                      {"qvit_act", {{"bits", int64_t{4}}}},
                      true});
  std::printf("%d threads, median of %d runs, 224x224\n", torch::get_num_threads(), repeats);
  std::printf("%-6s %12s %12s %12s %18s %10s\n", "batch", "eval ms", "deploy ms", "eval/deploy", "within 1e-4", "same top1");
  torch::NoGradGuard no_grad;
  for (const auto batch : batches) {
    const auto images = torch::randn({batch, 3, 224, 224});
    const auto expected = net->forward(images);
    const auto actual = model.forward(images);
    const double eval = median_seconds([&] { (void)net->forward(images); }, repeats);
    const double deploy = median_seconds([&] { (void)model.forward(images); }, repeats);
    const double scale = expected.abs().max().item<double>();
    const auto within = ((actual - expected).abs().amax(1) <= 1e-4 * scale).sum().item<int64_t>();
    const auto same = (actual.argmax(1) == expected.argmax(1)).sum().item<int64_t>();
    std::printf("%-6lld %12.2f %12.2f %12.2f %12lld / %-3lld %6lld / %-3lld\n", static_cast<long long>(batch), eval * 1e3,
                deploy * 1e3, eval / deploy, static_cast<long long>(within), static_cast<long long>(batch),
                static_cast<long long>(same), static_cast<long long>(batch));
  }
  return 0;
}
