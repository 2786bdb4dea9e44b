// load_into: named tensors into a module's parameters and buffers, strict and not, with renames,
// and from a file into lowbit layers with their quantizer state.
#include <lowbit/csrc/engine/checkpoint/load_state.h>

#include <lowbit/modules/layers/qconv2d.h>
#include <lowbit/modules/layers/qlinear.h>
#include <lowbit/modules/quant/lsq.h>

#include <gtest/gtest.h>

#include <torch/torch.h>

#include "support/error_of.h"
#include "support/temp_dir.h"

#include <fstream>

using lowbit::engine::load_into;
using lowbit::engine::LoadOptions;
using lowbit::engine::NamedTensors;

using lowbit::testing::error_of;

namespace {

// fc.weight [3, 2], fc.bias [3], bn.weight, bn.bias, bn.running_mean, bn.running_var [3],
// bn.num_batches_tracked [].
struct NetImpl : torch::nn::Module {
  NetImpl() {
    fc = register_module("fc", torch::nn::Linear(2, 3));
    bn = register_module("bn", torch::nn::BatchNorm1d(3));
  }
  torch::nn::Linear fc{nullptr};
  torch::nn::BatchNorm1d bn{nullptr};
};
TORCH_MODULE(Net);

// Every parameter and buffer of `module`, as a state dict: distinct values, in double precision.
NamedTensors state_of(torch::nn::Module& module) {
  NamedTensors state;
  double next = 1;
  for (const auto& p : module.named_parameters()) {
    state.insert(p.key(), torch::arange(next, next + p.value().numel(), torch::kDouble).view(p.value().sizes()));
    next += p.value().numel();
  }
  for (const auto& b : module.named_buffers()) state.insert(b.key(), torch::full_like(b.value(), 42));
  return state;
}

NamedTensors without(const NamedTensors& state, const std::string& key) {
  NamedTensors out;
  for (const auto& item : state) {
    if (item.key() != key) out.insert(item.key(), item.value());
  }
  return out;
}

NamedTensors renamed(const NamedTensors& state, const std::string& from, const std::string& to) {
  NamedTensors out;
  for (const auto& item : state) out.insert(item.key() == from ? to : item.key(), item.value());
  return out;
}

}  // namespace

TEST(LoadInto, CopiesParametersAndBuffersKeepingTheModulesDtype) {
  Net net;
  const auto state = state_of(*net);
  const auto report = load_into(*net, state);
  EXPECT_EQ(report.loaded.size(), 7u);
  EXPECT_TRUE(report.missing.empty() && report.unexpected.empty() && report.dropped.empty());
  EXPECT_TRUE(torch::equal(net->fc->weight, torch::tensor({{1.f, 2.f}, {3.f, 4.f}, {5.f, 6.f}})));
  EXPECT_EQ(net->fc->weight.scalar_type(), torch::kFloat);
  EXPECT_TRUE(net->fc->weight.requires_grad());
  EXPECT_FALSE(net->fc->weight.grad_fn());
  EXPECT_EQ(net->bn->num_batches_tracked.scalar_type(), torch::kLong);
  EXPECT_EQ(net->bn->num_batches_tracked.item<int64_t>(), 42);
  EXPECT_TRUE(torch::equal(net->bn->running_var, torch::full({3}, 42.f)));
}

TEST(LoadInto, KeepsTheModulesDevice) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  Net net;
  net->to(torch::kCUDA);
  load_into(*net, state_of(*net));
  EXPECT_TRUE(net->fc->weight.is_cuda());
  EXPECT_TRUE(torch::equal(net->fc->bias.cpu(), torch::tensor({7.f, 8.f, 9.f})));
}

TEST(LoadInto, RenamesApplyBeforeMatchingAndEmptyNamesAreDropped) {
  Net net;
  NamedTensors state;
  for (const auto& item : state_of(*net)) state.insert("module." + item.key(), item.value());
  state.insert("module.head.weight", torch::zeros({10, 3}));
  const auto report =
      load_into(*net, state, LoadOptions().renames({{"^module\\.", ""}, {"^head\\..*", ""}}));
  EXPECT_EQ(report.loaded.size(), 7u);
  EXPECT_EQ(report.dropped, std::vector<std::string>{"module.head.weight"});
  EXPECT_TRUE(torch::equal(net->fc->bias, torch::tensor({7.f, 8.f, 9.f})));
}

TEST(LoadInto, StrictMissingKeyIsNamed) {
  Net net;
  const auto msg = error_of([&] { load_into(*net, without(state_of(*net), "bn.running_var")); });
  EXPECT_NE(msg.find("state dict does not match the module\n  missing     bn.running_var"), std::string::npos) << msg;
}

TEST(LoadInto, StrictUnexpectedKeySuggestsTheMissingOne) {
  Net net;
  const auto msg = error_of([&] { load_into(*net, renamed(state_of(*net), "fc.bias", "fc.bais")); });
  EXPECT_NE(msg.find("\n  unexpected  fc.bais (did you mean 'fc.bias'?)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("\n  missing     fc.bias"), std::string::npos) << msg;
}

TEST(LoadInto, UnexpectedKeyNamesItsSourceKeyWhenRenamed) {
  Net net;
  const auto state = renamed(state_of(*net), "fc.bias", "classifier.bias");
  const auto msg = error_of([&] { load_into(*net, state, LoadOptions().renames({{"^classifier\\.", "head."}})); });
  EXPECT_NE(msg.find("unexpected  head.bias (from 'classifier.bias')"), std::string::npos) << msg;
}

TEST(LoadInto, ShapeMismatchNamesKeyAndBothShapesEvenWhenNotStrict) {
  Net net;
  NamedTensors state = state_of(*net);
  state["fc.weight"] = torch::zeros({3, 3});
  for (const bool strict : {true, false}) {
    const auto msg = error_of([&] { load_into(*net, state, LoadOptions().strict(strict).source("teacher.pth")); });
    EXPECT_NE(msg.find("teacher.pth: state dict does not match the module\n  shape       fc.weight: module [3, 2], "
                       "state dict [3, 3]"),
              std::string::npos)
        << msg;
  }
}

TEST(LoadInto, FailedLoadLeavesTheModuleAsItWas) {
  Net net;
  NamedTensors original;
  for (const auto& p : net->named_parameters()) original.insert(p.key(), p.value().clone());
  for (const auto& b : net->named_buffers()) original.insert(b.key(), b.value().clone());
  auto state = state_of(*net);
  state.insert("extra.weight", torch::ones(1));
  EXPECT_NE(error_of([&] { load_into(*net, state); }), "(no error)");
  for (const auto& p : net->named_parameters()) EXPECT_TRUE(torch::equal(p.value(), original[p.key()])) << p.key();
  for (const auto& b : net->named_buffers()) EXPECT_TRUE(torch::equal(b.value(), original[b.key()])) << b.key();
}

TEST(LoadInto, NonStrictReportsMissingAndUnexpected) {
  Net net;
  auto state = without(state_of(*net), "bn.num_batches_tracked");
  state.insert("aux.weight", torch::ones(1));
  const auto report = load_into(*net, state, LoadOptions().strict(false));
  EXPECT_EQ(report.loaded.size(), 6u);
  EXPECT_EQ(report.missing, std::vector<std::string>{"bn.num_batches_tracked"});
  EXPECT_EQ(report.unexpected, std::vector<std::string>{"aux.weight"});
  EXPECT_TRUE(torch::equal(net->fc->bias, torch::tensor({7.f, 8.f, 9.f})));
}

TEST(LoadInto, TwoKeysRenamedToOneNameIsAnError) {
  Net net;
  auto state = state_of(*net);
  state.insert("module.fc.bias", torch::zeros(3));
  const auto msg = error_of([&] { load_into(*net, state, LoadOptions().renames({{"^module\\.", ""}})); });
  EXPECT_NE(msg.find("keys 'fc.bias' and 'module.fc.bias' both rename to 'fc.bias'"), std::string::npos) << msg;
}

TEST(LoadInto, LongListsAreCut) {
  Net net;
  auto state = state_of(*net);
  for (int i = 0; i < 15; ++i) state.insert("extra." + std::to_string(i), torch::ones(1));
  const auto msg = error_of([&] { load_into(*net, state); });
  EXPECT_NE(msg.find("unexpected  extra.9\n  unexpected  ... and 5 more"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("extra.10"), std::string::npos) << msg;
}

TEST(LoadInto, LowbitLayersWithQuantizerStateFromAFile) {
  namespace layers = lowbit::layers;
  namespace quant = lowbit::quant;
  torch::manual_seed(0);
  const auto make_conv = [] {
    return layers::QConv2d(layers::QConv2dOptions(2, 4, 3)
                               .weight_quantizer(quant::Lsq(quant::LsqOptions(4).per_channel(true).channels(4)))
                               .input_quantizer(quant::Lsq(quant::LsqOptions(4).is_signed(false))));
  };
  const auto make_linear = [] {
    return layers::QLinear(layers::QLinearOptions(4, 3).weight_quantizer(quant::Lsq(quant::LsqOptions(2))));
  };
  auto conv = make_conv();
  auto linear = make_linear();
  const auto x = torch::rand({2, 2, 5, 5});
  const auto features = conv(x).mean({2, 3});
  const auto expected = linear(features);  // the first forward initialises the LSQ steps

  c10::Dict<std::string, at::Tensor> file;  // as a Python model with children `conv` and `fc` saves them
  const auto add = [&](const std::string& prefix, const torch::nn::Module& layer) {
    for (const auto& p : layer.named_parameters()) file.insert(prefix + p.key(), p.value().detach());
    for (const auto& b : layer.named_buffers()) file.insert(prefix + b.key(), b.value());
  };
  add("conv.", *conv);
  add("fc.", *linear);
  lowbit::testing::TempDir dir;
  const auto data = torch::pickle_save(file);
  std::ofstream(dir.file("teacher.pt"), std::ios::binary).write(data.data(), static_cast<std::streamsize>(data.size()));
  const auto sd = lowbit::engine::read_pytorch_state_dict(dir.file("teacher.pt"));
  EXPECT_TRUE(sd.tensors.contains("conv.weight_quantizer.step"));
  EXPECT_TRUE(sd.tensors.contains("conv.input_quantizer.initialized"));
  EXPECT_TRUE(sd.tensors.contains("fc.weight_quantizer.step"));

  auto conv2 = make_conv();
  auto linear2 = make_linear();
  const auto conv_report = load_into(*conv2, sd.tensors, LoadOptions().strict(false).renames({{"^conv\\.", ""}}));
  EXPECT_EQ(conv_report.loaded.size(), 6u);  // weight, bias, {weight,input}_quantizer.{step,initialized}
  EXPECT_EQ(conv_report.unexpected.size(), 4u);  // fc.*
  load_into(*linear2, sd.tensors, LoadOptions().strict(false).renames({{"^fc\\.", ""}}));
  EXPECT_TRUE(torch::equal(conv2->weight_quantizer->named_parameters()["step"],
                           conv->weight_quantizer->named_parameters()["step"]));
  EXPECT_TRUE(torch::allclose(linear2(conv2(x).mean({2, 3})), expected));
}
