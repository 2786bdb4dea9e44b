// The ResNet builders: torchvision's FP ResNet-18/34 (state-dict names), and the binary
// Bi-Real / ReActNet / AdaBin ResNets (16 binary convolutions in -18, real stem, shortcuts, fc).
#include <lowbit/csrc/engine/checkpoint/load_state.h>
#include <lowbit/modules/layers/basic_block.h>
#include <lowbit/modules/layers/batch_norm.h>
#include <lowbit/modules/layers/binary_residual_unit.h>
#include <lowbit/modules/layers/bottleneck.h>
#include <lowbit/modules/layers/maxout.h>
#include <lowbit/modules/layers/qconv2d.h>
#include <lowbit/modules/layers/qlinear.h>
#include <lowbit/modules/layers/rprelu.h>
#include <lowbit/modules/layers/stage.h>
#include <lowbit/modules/models/registry.h>

#include "support/error_of.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <set>

using lowbit::models::QuantPolicy;

namespace {

QuantPolicy policy(const std::string& weight, const std::string& input, lowbit::Params weight_params = {}) {
  QuantPolicy p;
  p.weight = {weight, std::move(weight_params)};
  p.input = {input, {}};
  return p;
}

QuantPolicy policy_for(const std::string& model) {
  if (model.rfind("adabin", 0) == 0) return policy("adabin", "adabin_act");
  if (model.rfind("reactnet", 0) == 0) return policy("xnor", "rsign", {{"scale_grad", std::string("detached")}});
  return policy("xnor", "sign", {{"scale_grad", std::string("detached")}});
}

struct Convs {
  std::vector<std::string> binary, full_precision;  // qualified names
};

Convs convs_of(torch::nn::Module& model) {
  Convs c;
  for (const auto& item : model.named_modules()) {
    const auto* conv = dynamic_cast<const lowbit::layers::QConv2dImpl*>(item.value().get());
    if (!conv) continue;
    const bool binary = conv->weight_quantizer->bits() == 1 && conv->input_quantizer->bits() == 1;
    (binary ? c.binary : c.full_precision).push_back(item.key());
  }
  return c;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

TEST(BinaryResNet, EighteenHasSixteenBinaryConvsAndRealStemShortcutsAndFc) {
  for (const std::string name : {"bireal_resnet18", "reactnet_resnet18", "adabin_resnet18"}) {
    auto model = lowbit::models::make(name, {}, policy_for(name));
    const auto convs = convs_of(*model);
    EXPECT_EQ(convs.binary.size(), 16u) << name;
    for (const auto& b : convs.binary) EXPECT_TRUE(ends_with(b, ".conv")) << name << " " << b;
    // Bi-Real Net: one real-valued shortcut per binary convolution (a unit each).
    int64_t units = 0;
    for (const auto& m : model->modules()) {
      units += dynamic_cast<lowbit::layers::BinaryResidualUnitImpl*>(m.get()) != nullptr;
    }
    EXPECT_EQ(units, 16) << name;
    // Real-valued: the stem and the three downsample 1×1 convolutions.
    EXPECT_EQ(convs.full_precision, (std::vector<std::string>{"conv1", "layer2.0.downsample.1",
                                                             "layer3.0.downsample.1", "layer4.0.downsample.1"}))
        << name;
    auto* fc = model->named_children()["fc"]->as<lowbit::layers::QLinear>();
    ASSERT_TRUE(fc) << name;
    EXPECT_EQ(fc->weight_quantizer->bits(), 32);
    EXPECT_EQ(fc->input_quantizer->bits(), 32);
    EXPECT_EQ(fc->weight.sizes(), torch::IntArrayRef({1000, 512}));
  }
}

TEST(BinaryResNet, ImageNetOutputIsBatchByThousand) {
  torch::manual_seed(0);
  auto model = lowbit::models::make("adabin_resnet18", {}, policy_for("adabin_resnet18"));
  model->eval();
  torch::NoGradGuard no_grad;
  EXPECT_EQ(model->forward(torch::randn({2, 3, 96, 96})).sizes(), torch::IntArrayRef({2, 1000}));
  for (const std::string name : {"bireal_resnet18", "reactnet_resnet34"}) {
    auto other = lowbit::models::make(name, {}, policy_for(name));
    other->eval();
    EXPECT_EQ(other->forward(torch::randn({2, 3, 64, 64})).sizes(), torch::IntArrayRef({2, 1000})) << name;
  }
}

TEST(BinaryResNet, ThirtyFourHasThirtyTwoBinaryConvs) {
  for (const std::string name : {"bireal_resnet34", "reactnet_resnet34", "adabin_resnet34"}) {
    auto model = lowbit::models::make(name, {}, policy_for(name));
    EXPECT_EQ(convs_of(*model).binary.size(), 32u) << name;
    EXPECT_EQ(convs_of(*model).full_precision.size(), 4u) << name;
  }
}

TEST(BinaryResNet, FamiliesDifferInActivationStemAndHead) {
  auto bireal = lowbit::models::make("bireal_resnet18", {}, policy_for("bireal_resnet18"));
  auto reactnet = lowbit::models::make("reactnet_resnet18", {}, policy_for("reactnet_resnet18"));
  auto adabin = lowbit::models::make("adabin_resnet18", {}, policy_for("adabin_resnet18"));
  const auto children = [](torch::nn::Sequential& m) {
    std::vector<std::string> names;
    for (const auto& c : m->named_children()) names.push_back(c.key());
    return names;
  };
  const std::vector<std::string> plain = {"conv1",  "bn1",    "maxpool", "layer1",  "layer2",
                                          "layer3", "layer4", "avgpool", "flatten", "fc"};
  EXPECT_EQ(children(bireal), plain);  // no ReLU after the stem
  EXPECT_EQ(children(reactnet), plain);
  EXPECT_EQ(children(adabin), (std::vector<std::string>{"conv1", "bn1", "activation", "maxpool", "layer1", "layer2",
                                                        "layer3", "layer4", "avgpool", "flatten", "bn2", "fc"}));
  EXPECT_TRUE(adabin->named_children()["activation"]->as<lowbit::layers::Maxout>());
  EXPECT_TRUE(adabin->named_children()["bn2"]->as<lowbit::layers::BatchNorm>());
  const auto unit = [](torch::nn::Sequential& m) {
    return m->named_modules()["layer1.0"]->as<lowbit::layers::BinaryResidualUnit>();
  };
  EXPECT_TRUE(unit(bireal)->activation.is_empty());
  EXPECT_TRUE(unit(reactnet)->activation.ptr()->as<lowbit::layers::RPReLU>());
  EXPECT_TRUE(unit(adabin)->activation.ptr()->as<lowbit::layers::Maxout>());
  // ReActNet's RSign gets the input channels of each unit.
  auto* rsign = reactnet->named_modules()["layer2.0.conv.input_quantizer"].get();
  EXPECT_EQ(rsign->named_parameters()["bias"].size(1), 64);
}

TEST(BinaryResNet, OfficialInitialisations) {
  torch::manual_seed(1);
  auto reactnet = lowbit::models::make("reactnet_resnet18", {}, policy_for("reactnet_resnet18"));
  const auto binary = reactnet->named_parameters()["layer3.1.conv.weight"];
  EXPECT_GE(binary.min().item<double>(), 0);
  EXPECT_LE(binary.max().item<double>(), 1e-3);
  auto adabin = lowbit::models::make("adabin_resnet18", {}, policy_for("adabin_resnet18"));
  const auto w = adabin->named_parameters()["layer4.1.conv.weight"];  // N(0, 2/(3·3·512))
  EXPECT_NEAR(w.std().item<double>(), std::sqrt(2.0 / (9 * 512)), 0.02 * std::sqrt(2.0 / (9 * 512)));
  auto cifar = lowbit::models::make("adabin_resnet20", {}, policy_for("adabin_resnet20"));
  const auto c = cifar->named_parameters()["layer3.5.conv.weight"];  // kaiming_normal_, fan_in 3·3·64
  EXPECT_NEAR(c.std().item<double>(), std::sqrt(2.0 / (9 * 64)), 0.05 * std::sqrt(2.0 / (9 * 64)));
}

TEST(BinaryResNet, AdaBinResNet20IsTheCifarNetwork) {
  auto model = lowbit::models::make("adabin_resnet20", {}, policy_for("adabin_resnet20"));
  const auto convs = convs_of(*model);
  EXPECT_EQ(convs.binary.size(), 18u);
  EXPECT_EQ(convs.full_precision, std::vector<std::string>{"conv1"});  // option A: no shortcut convs
  EXPECT_EQ(model->named_parameters()["conv1.weight"].sizes(), torch::IntArrayRef({16, 3, 3, 3}));
  EXPECT_FALSE(model->named_children().contains("maxpool"));
  model->eval();
  torch::NoGradGuard no_grad;
  const auto x = torch::randn({2, 3, 32, 32});
  EXPECT_EQ(model->forward(x).sizes(), torch::IntArrayRef({2, 10}));
  EXPECT_EQ(model->named_children()["layer3"]->as<lowbit::layers::Stage>()->forward(
                model->named_children()["layer2"]->as<lowbit::layers::Stage>()->forward(torch::randn({1, 16, 32, 32})))
                .sizes(),
            torch::IntArrayRef({1, 64, 8, 8}));
}

TEST(BinaryResNet, SmallInputOptionTrainsOnTwentyEightPixels) {
  auto model = lowbit::models::make("reactnet_resnet18",
                                    {{"small_input", true},
                                     {"in_channels", int64_t{1}},
                                     {"classes", int64_t{10}},
                                     {"widths", std::vector<int64_t>{8, 16, 32}},
                                     {"blocks", std::vector<int64_t>{1, 2, 1}}},
                                    policy_for("reactnet_resnet18"));
  EXPECT_EQ(model->named_parameters()["conv1.weight"].sizes(), torch::IntArrayRef({8, 1, 3, 3}));
  EXPECT_FALSE(model->named_children().contains("maxpool"));
  EXPECT_EQ(convs_of(*model).binary.size(), 4u);
  const auto logits = model->forward(torch::randn({3, 1, 28, 28}));
  EXPECT_EQ(logits.sizes(), torch::IntArrayRef({3, 10}));
  // It trains: the cross-entropy reaches the stem and every binary convolution's latent weight.
  torch::nn::functional::cross_entropy(logits, torch::tensor({1, 4, 7})).backward();
  const auto parameters = model->named_parameters();
  EXPECT_GT(parameters["conv1.weight"].grad().abs().sum().item<double>(), 0.0);
  for (const auto& conv : convs_of(*model).binary) {
    EXPECT_GT(parameters[conv + ".weight"].grad().abs().sum().item<double>(), 0.0) << conv;
  }
}

TEST(BinaryResNet, FullPrecisionEndsOffQuantizesStemAndShortcutsToo) {
  auto p = policy_for("bireal_resnet18");
  p.full_precision_ends = false;
  auto model = lowbit::models::make("bireal_resnet18", {}, p);
  EXPECT_EQ(convs_of(*model).binary.size(), 20u);
}

TEST(BinaryResNet, BadOptionsAreNamed) {
  using lowbit::testing::error_of;
  const auto p = policy_for("adabin_resnet18");
  EXPECT_NE(error_of([&] { lowbit::models::make("adabin_resnet18", {{"widths", std::vector<int64_t>{8, 16}}}, p); })
                .find("model 'adabin_resnet18': blocks and widths need one entry per stage, got 4 and 2"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              lowbit::models::make("adabin_resnet18", {{"blocks", std::vector<int64_t>{1, 0, 1, 1}}}, p);
            }).find("model 'adabin_resnet18': blocks must be positive, got [1, 0, 1, 1]"),
            std::string::npos);
  EXPECT_NE(error_of([&] { lowbit::models::make("adabin_resnet18", {{"activation", std::string("maxot")}}, p); })
                .find("unknown activation 'maxot' (did you mean 'maxout'?)"),
            std::string::npos);
  EXPECT_NE(error_of([&] { lowbit::models::make("adabin_resnet18", {{"init", std::string("xavier")}}, p); })
                .find("unknown init 'xavier'"),
            std::string::npos);
  EXPECT_NE(error_of([&] { lowbit::models::make("adabin_resnet18", {{"classes", int64_t{1}}}, p); })
                .find("model 'adabin_resnet18': needs classes > 1, got 1"),
            std::string::npos);
  EXPECT_NE(error_of([&] { lowbit::models::make("resnet18", {{"activation", std::string("prelu")}}, p); })
                .find("model 'resnet18': unknown option 'activation'"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              lowbit::models::make("adabin_resnet20", {{"widths", std::vector<int64_t>{16, 8, 8}}}, p);
            }).find("the zero_pad shortcut cannot reduce the channels (16 -> 8)"),
            std::string::npos);
}

// torchvision's resnet.py, written out: the state-dict keys of resnet18/34.
std::set<std::string> torchvision_keys(const std::vector<int64_t>& blocks) {
  const auto bn = [](const std::string& p) {
    return std::vector<std::string>{p + ".weight", p + ".bias", p + ".running_mean", p + ".running_var",
                                    p + ".num_batches_tracked"};
  };
  std::set<std::string> keys = {"conv1.weight", "fc.weight", "fc.bias"};
  for (const auto& k : bn("bn1")) keys.insert(k);
  for (size_t stage = 0; stage < blocks.size(); ++stage) {
    for (int64_t b = 0; b < blocks[stage]; ++b) {
      const auto block = "layer" + std::to_string(stage + 1) + "." + std::to_string(b);
      keys.insert(block + ".conv1.weight");
      keys.insert(block + ".conv2.weight");
      for (const auto& k : bn(block + ".bn1")) keys.insert(k);
      for (const auto& k : bn(block + ".bn2")) keys.insert(k);
      if (stage > 0 && b == 0) {
        keys.insert(block + ".downsample.0.weight");
        for (const auto& k : bn(block + ".downsample.1")) keys.insert(k);
      }
    }
  }
  return keys;
}

TEST(TorchvisionResNet, StateDictNamesAndShapesAreTorchvisions) {
  for (const auto& [name, blocks] : {std::pair<std::string, std::vector<int64_t>>{"resnet18", {2, 2, 2, 2}},
                                     std::pair<std::string, std::vector<int64_t>>{"resnet34", {3, 4, 6, 3}}}) {
    auto model = lowbit::models::make(name, {}, QuantPolicy{});
    std::set<std::string> keys;
    for (const auto& p : model->named_parameters()) keys.insert(p.key());
    for (const auto& b : model->named_buffers()) keys.insert(b.key());
    EXPECT_EQ(keys, torchvision_keys(blocks)) << name;
    EXPECT_EQ(keys.size(), name == "resnet18" ? 122u : 218u);
  }
  auto model = lowbit::models::make("resnet18", {}, QuantPolicy{});
  const auto params = model->named_parameters();
  EXPECT_EQ(params["conv1.weight"].sizes(), torch::IntArrayRef({64, 3, 7, 7}));
  EXPECT_EQ(params["layer2.0.conv1.weight"].sizes(), torch::IntArrayRef({128, 64, 3, 3}));
  EXPECT_EQ(params["layer2.0.downsample.0.weight"].sizes(), torch::IntArrayRef({128, 64, 1, 1}));
  EXPECT_EQ(params["fc.weight"].sizes(), torch::IntArrayRef({1000, 512}));
}

TEST(TorchvisionResNet, LoadsATorchvisionStateDictByName) {
  torch::manual_seed(2);
  auto source = lowbit::models::make("resnet18", {}, QuantPolicy{});
  lowbit::engine::NamedTensors tensors;
  for (const auto& key : torchvision_keys({2, 2, 2, 2})) {
    const auto& value = source->named_parameters().contains(key) ? source->named_parameters()[key]
                                                                  : source->named_buffers()[key];
    tensors.insert(key, value.detach().clone() + (value.is_floating_point() ? 0.5 : 0));
  }
  auto model = lowbit::models::make("resnet18", {}, QuantPolicy{});
  const auto report = lowbit::engine::load_into(*model, tensors);
  EXPECT_EQ(report.loaded.size(), 122u);
  EXPECT_TRUE(torch::equal(model->named_parameters()["layer3.1.bn2.bias"], source->named_parameters()["layer3.1.bn2.bias"] + 0.5));
}

TEST(TorchvisionResNet, ForwardMatchesTheBlockFormula) {
  torch::manual_seed(3);
  auto model = lowbit::models::make(
      "resnet18", {{"small_input", true}, {"in_channels", int64_t{1}}, {"classes", int64_t{10}}}, QuantPolicy{});
  model->eval();
  torch::NoGradGuard no_grad;
  EXPECT_EQ(model->forward(torch::randn({2, 1, 28, 28})).sizes(), torch::IntArrayRef({2, 10}));
  auto* block = model->named_modules()["layer2.0"]->as<lowbit::layers::BasicBlock>();
  ASSERT_TRUE(block);
  const auto x = torch::randn({1, 64, 8, 8});
  const auto h = torch::relu(block->bn1(torch::conv2d(x, block->conv1->weight, {}, 2, 1)));
  const auto main = block->bn2(torch::conv2d(h, block->conv2->weight, {}, 1, 1));
  const auto shortcut = block->downsample->forward(x);
  EXPECT_TRUE(torch::allclose(block->forward(x), torch::relu(main + shortcut), 1e-5, 1e-5));
  // A quantizing policy reaches the blocks' 3×3 convolutions only.
  auto xnor = lowbit::models::make("resnet18", {}, policy("xnor", "sign"));
  EXPECT_EQ(convs_of(*xnor).binary.size(), 16u);
  EXPECT_EQ(convs_of(*xnor).full_precision.size(), 4u);
}

TEST(TorchvisionResNet, FiftyAndHundredOneAreBottleneckNetworksWithTorchvisionsNames) {
  for (const auto& [name, keys] : {std::pair<std::string, size_t>{"resnet50", 320}, {"resnet101", 626}}) {
    auto model = lowbit::models::make(name, {}, QuantPolicy{});
    EXPECT_EQ(model->named_parameters().size() + model->named_buffers().size(), keys) << name;  // torchvision's state dict
  }
  torch::manual_seed(4);
  auto model = lowbit::models::make("resnet50", {{"classes", int64_t{10}}}, QuantPolicy{});
  const auto params = model->named_parameters();
  EXPECT_EQ(params["layer1.0.conv1.weight"].sizes(), torch::IntArrayRef({64, 64, 1, 1}));
  EXPECT_EQ(params["layer1.0.conv3.weight"].sizes(), torch::IntArrayRef({256, 64, 1, 1}));
  EXPECT_EQ(params["layer1.0.downsample.0.weight"].sizes(), torch::IntArrayRef({256, 64, 1, 1}));
  EXPECT_EQ(params["layer2.0.conv2.weight"].sizes(), torch::IntArrayRef({128, 128, 3, 3}));
  EXPECT_EQ(params["layer4.2.bn3.weight"].sizes(), torch::IntArrayRef({2048}));
  EXPECT_EQ(params["fc.weight"].sizes(), torch::IntArrayRef({10, 2048}));
  model->eval();
  torch::NoGradGuard no_grad;
  EXPECT_EQ(model->forward(torch::randn({2, 3, 64, 64})).sizes(), torch::IntArrayRef({2, 10}));
  // ResNet v1.5: the stride is on the 3×3 convolution.
  auto* block = model->named_modules()["layer2.0"]->as<lowbit::layers::Bottleneck>();
  ASSERT_TRUE(block);
  const auto x = torch::randn({1, 256, 8, 8});
  auto h = torch::relu(block->bn1(torch::conv2d(x, block->conv1->weight)));
  h = torch::relu(block->bn2(torch::conv2d(h, block->conv2->weight, {}, 2, 1)));
  const auto main = block->bn3(torch::conv2d(h, block->conv3->weight));
  EXPECT_TRUE(torch::allclose(block->forward(x), torch::relu(main + block->downsample->forward(x)), 1e-5, 1e-5));
  // A quantizing policy reaches the three convolutions of every block, not the stem, shortcuts or fc.
  auto quantized = lowbit::models::make("resnet50", {}, policy("xnor", "sign"));
  EXPECT_EQ(convs_of(*quantized).binary.size(), 48u);
  EXPECT_EQ(convs_of(*quantized).full_precision.size(), 5u);  // stem and 4 shortcuts
}
