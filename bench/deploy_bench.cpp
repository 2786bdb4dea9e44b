// The deploy runtime (csrc/deploy) against the training graph in eval mode on LibTorch float32,
// measured in the same run: ReActNet ResNet-18 (binary weights alpha sign(W), RSign inputs, RPReLU)
// at 224x224, batch 1 and 16, random weights. Prints the median times and the ratio eval / deploy;
// how many images' logits agree within 1e-4 of the logits' scale and in their top-1 class (a sign
// that float rounding puts on the other side of its threshold, which the exact integer sums of the
// deployed model and the float sums of the training graph's convolution can do, changes every
// later layer of that image); the export's sizes: the binarized layers packed against float32, and
// the whole .lbm file against the float32 checkpoint (torch::save of the network); the same for
// TerViT's DeiT-Small (ternary block weights, 8-bit activations; its 8-bit patch embedding and
// heads stored as float32 values).
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

  // TerViT's DeiT-Small in its second stage (configs/tervit/imagenet_deit.yaml): ternary weights
  // (TWN, per channel) with 8-bit activations, the patch embedding and head 8-bit.
  const lowbit::models::QuantPolicy tervit{{"ternary", {{"scale", std::string("twn")}, {"delta", 0.7}, {"per_channel", true}}},
                                           {"qvit_act", {{"bits", int64_t{8}}}},
                                           true};
  auto deit = lowbit::models::make("deit_small", {{"distilled", true}, {"embed_bits", int64_t{8}}, {"head_bits", int64_t{8}}}, tervit);
  deit->eval();
  const auto deit_records = lowbit::deploy::export_network(*deit, "deit_small", {});
  const auto deit_bytes = lowbit::deploy::serialize_lbm(deit_records).size();
  std::ostringstream deit_checkpoint;
  torch::save(deit, deit_checkpoint);
  const auto ternary = lowbit::deploy::packed_sizes(deit_records);
  std::printf("TerViT DeiT-Small export: ternary layers %.2f MiB float32 -> %.2f MiB packed (%.1fx); file %.2f MiB vs "
              "float32 checkpoint %.2f MiB (%.1fx)\n",
              ternary.float32 / 1048576.0, ternary.packed / 1048576.0,
              static_cast<double>(ternary.float32) / ternary.packed, deit_bytes / 1048576.0,
              deit_checkpoint.str().size() / 1048576.0, static_cast<double>(deit_checkpoint.str().size()) / deit_bytes);
  {
    torch::NoGradGuard no_grad;
    const auto deit_model = lowbit::deploy::Model::parse(lowbit::deploy::serialize_lbm(deit_records), "deit_small.lbm");
    const auto images = torch::randn({2, 3, 224, 224});
    const auto expected = deit->forward(images);
    std::printf("TerViT DeiT-Small deployed: max |deploy - eval| %.2e at logits' scale %.2e (batch 2)\n",
                (deit_model.forward(images) - expected).abs().max().item<double>(),
                expected.abs().max().item<double>());
  }

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
