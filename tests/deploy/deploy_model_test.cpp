// lowbit export + lowbit::deploy::Model: exported networks run on the packed kernels and give the
// training graph's eval-mode outputs; bad files and unsupported networks fail naming the culprit.
#include <lowbit/csrc/deploy/export.h>
#include <lowbit/csrc/deploy/model.h>
#include <lowbit/modules/layers/batch_norm.h>
#include <lowbit/modules/layers/binary_residual_unit.h>
#include <lowbit/modules/layers/qconv2d.h>
#include <lowbit/modules/layers/qlinear.h>
#include <lowbit/modules/layers/rprelu.h>
#include <lowbit/modules/models/registry.h>
#include <lowbit/modules/quant/registry.h>
#include <lowbit/modules/quant/rsign.h>

#include "support/deployed_outputs.h"
#include "support/error_of.h"

#include <gtest/gtest.h>

#include <torch/torch.h>

#include <algorithm>
#include <regex>

namespace deploy_model_test {  // named: unity builds join test files

using lowbit::deploy::LbmError;
using lowbit::deploy::LbmKind;
using lowbit::deploy::LbmRecord;
using lowbit::deploy::Model;
using lowbit::testing::expect_deployed_outputs;

lowbit::models::QuantPolicy policy(const std::string& weight, const std::string& input, lowbit::Params wp = {}) {
  return {{weight, std::move(wp)}, {input, {}}, true};
}

// Every parameter and buffer of `net` drawn at random (batch-norm variances positive), so that
// signs, thresholds and slopes all matter.
void randomise(torch::nn::Module& net) {
  torch::NoGradGuard no_grad;
  for (auto& p : net.named_parameters()) p.value().normal_(0, 0.5);
  for (auto& b : net.named_buffers()) {
    if (b.key().find("running_var") != std::string::npos) b.value().uniform_(0.5, 2.0);
    if (b.key().find("running_mean") != std::string::npos) b.value().normal_(0, 0.5);
  }
}

Model round_trip(torch::nn::Module& net, const std::string& name, int64_t channels, int64_t size) {
  lowbit::deploy::ModelInput input;
  input.channels = channels;
  input.height = input.width = size;
  const auto bytes = lowbit::deploy::serialize_lbm(lowbit::deploy::export_network(net, name, input));
  return Model::parse(bytes, name + ".lbm");
}

lowbit::Params small_resnet() {
  return {{"widths", std::vector<int64_t>{16, 32, 64, 128}}, {"small_input", true}, {"classes", int64_t{10}}};
}

TEST(DeployModel, ReActNetRunsOnPackedKernelsWithTheTrainingGraphsOutputs) {
  torch::manual_seed(0);
  auto net = lowbit::models::make("reactnet_resnet18", small_resnet(),
                                  policy("xnor", "rsign", {{"scale_grad", std::string("detached")}}));
  randomise(*net);
  const auto model = round_trip(*net, "reactnet_resnet18", 3, 32);
  expect_deployed_outputs(net, model, torch::randn({3, 3, 32, 32}));
  EXPECT_NE(model.description().find("input: sign"), std::string::npos) << model.description();
}

TEST(DeployModel, BiRealWithSignInputsAndNoActivation) {
  torch::manual_seed(1);
  auto net = lowbit::models::make("bireal_resnet18", small_resnet(), policy("xnor", "sign"));
  randomise(*net);
  expect_deployed_outputs(net, round_trip(*net, "bireal_resnet18", 3, 32), torch::randn({2, 3, 32, 32}));
}

TEST(DeployModel, TernaryWeightsAndFullPrecisionResNet) {
  torch::manual_seed(2);
  auto ternary = lowbit::models::make("reactnet_resnet18", small_resnet(), policy("ternary", "rsign"));
  randomise(*ternary);
  lowbit::deploy::ModelInput input;
  input.height = input.width = 32;
  const auto records = lowbit::deploy::export_network(*ternary, "ternary", input);
  int64_t ternary_records = 0;
  for (const auto& r : records) ternary_records += r.kind == LbmKind::Ternary;
  EXPECT_EQ(ternary_records, 16);  // the 16 units' 3x3 convolutions
  expect_deployed_outputs(ternary, Model::parse(lowbit::deploy::serialize_lbm(records), "t.lbm"), torch::randn({2, 3, 32, 32}));

  auto real = lowbit::models::make("resnet18", small_resnet(), policy("identity", "identity"));
  randomise(*real);
  expect_deployed_outputs(real, round_trip(*real, "resnet18", 3, 32), torch::randn({2, 3, 32, 32}));
}

TEST(DeployModel, FrozenNetworkGivesItsEvalOutputsAndKeepsThemWhileTheNetworkTrainsOn) {
  torch::manual_seed(4);
  auto net = lowbit::models::make("reactnet_resnet18", small_resnet(),
                                  policy("xnor", "rsign", {{"scale_grad", std::string("detached")}}));
  randomise(*net);
  net->train();
  lowbit::deploy::ModelInput input;
  input.height = input.width = 32;
  const auto frozen = lowbit::deploy::freeze(*net, "reactnet_resnet18", input);
  EXPECT_TRUE(net->is_training());
  EXPECT_EQ(frozen.name(), "reactnet_resnet18");
  const auto images = torch::randn({2, 3, 32, 32});
  expect_deployed_outputs(net, frozen, images);
  const auto before = frozen.forward(images);
  {
    torch::NoGradGuard no_grad;
    for (auto& p : net->parameters()) p.add_(torch::randn_like(p) * 0.1);
    EXPECT_FALSE(torch::allclose(net->forward(images), before, 1e-3, 1e-3));  // the network moved on
  }
  EXPECT_TRUE(torch::equal(frozen.forward(images), before));  // the frozen copy did not
}

// A single layer that takes images freezes as a network of one (here a binary convolution).
TEST(DeployModel, ABinaryConvolutionLayerFreezesAlone) {
  torch::manual_seed(9);
  lowbit::layers::QConv2d conv(lowbit::layers::QConv2dOptions(8, 16, 3)
                                   .padding(1)
                                   .weight_quantizer(lowbit::quant::make("xnor"))
                                   .input_quantizer(lowbit::quant::make("sign")));
  lowbit::deploy::ModelInput input;
  input.channels = 8;
  input.height = input.width = 10;
  const auto frozen = lowbit::deploy::freeze(*conv, "conv", input);
  EXPECT_NE(frozen.description().find("input: sign"), std::string::npos) << frozen.description();
  const auto x = torch::randn({2, 8, 10, 10});
  conv->eval();
  torch::NoGradGuard no_grad;
  const auto expected = conv->forward(x);
  EXPECT_LE((frozen.forward(x) - expected).abs().max().item<double>(), 1e-4 * expected.abs().max().item<double>());
}

// A QLinear alone, on features [N, F] and tokens [B, N, F] (ModelInput::features): binary weights
// with sign inputs on the packed GEMM, and 4-bit LSQ weights (codes) on a 4-bit LSQ input grid.
TEST(DeployModel, ALinearLayerFreezesAloneOnFeaturesAndTokens) {
  torch::manual_seed(10);
  const std::vector<std::pair<std::string, std::string>> quantizers = {{"xnor", "sign"}, {"lsq", "lsq"}};
  for (const auto& [weight, input] : quantizers) {
    SCOPED_TRACE(weight + " weights, " + input + " inputs");
    const lowbit::Params params = weight == "lsq" ? lowbit::Params{{"bits", 4}} : lowbit::Params{};
    lowbit::layers::QLinear fc(lowbit::layers::QLinearOptions(70, 12)
                                   .weight_quantizer(lowbit::quant::make(weight, params))
                                   .input_quantizer(lowbit::quant::make(input, params)));
    (void)fc->forward(torch::randn({8, 70}));  // LSQ's steps initialise from a first training forward
    lowbit::deploy::ModelInput in;
    in.features = 70;
    const auto frozen = lowbit::deploy::freeze(*fc, "fc", in);
    EXPECT_NE(frozen.description().find("features: 70"), std::string::npos) << frozen.description();
    EXPECT_EQ(frozen.description().find("channels"), std::string::npos) << frozen.description();
    fc->eval();
    torch::NoGradGuard no_grad;
    for (const auto& x : {torch::randn({4, 70}), torch::randn({2, 5, 70})}) {
      const auto expected = fc->forward(x);
      const auto deployed = frozen.forward(x);
      ASSERT_EQ(deployed.sizes(), expected.sizes());
      EXPECT_LE((deployed - expected).abs().max().item<double>(), 1e-4 * expected.abs().max().item<double>());
    }
    const auto wrong = lowbit::testing::error_of([&] { (void)frozen.forward(torch::randn({4, 69})); });
    EXPECT_NE(wrong.find("expected float features [N, 70] or tokens [B, N, 70], got Float [4, 69]"), std::string::npos)
        << wrong;
    const auto image = lowbit::testing::error_of([&] { (void)frozen.prepare_image("cat.jpg"); });
    EXPECT_NE(image.find("this model's input (70 features) has no image pipeline"), std::string::npos) << image;
    in.pipeline = "imagenet";
    const auto pipeline = lowbit::testing::error_of([&] { (void)lowbit::deploy::freeze(*fc, "fc", in); });
    EXPECT_NE(pipeline.find("a model on features has no image pipeline, got 'imagenet'"), std::string::npos)
        << pipeline;
  }
}

TEST(DeployModel, SmallCnnWithABinaryClassifierUsesTheBinaryGemm) {
  torch::manual_seed(3);
  auto p = policy("xnor", "sign");
  p.full_precision_ends = false;  // the classifier binary too, on the packed GEMM
  auto net = lowbit::models::make("small_cnn", {{"channels", std::vector<int64_t>{8, 70}}}, p);
  randomise(*net);
  lowbit::deploy::ModelInput input;
  input.channels = 1;
  input.height = input.width = 28;
  const auto records = lowbit::deploy::export_network(*net, "small_cnn", input);
  // The classifier (child 9) is stored as bits, so the runtime's linear runs on the binary GEMM.
  const auto fc = std::find_if(records.begin(), records.end(), [](const auto& r) { return r.name == "9.weight"; });
  ASSERT_NE(fc, records.end());
  EXPECT_EQ(fc->kind, lowbit::deploy::LbmKind::Binary);
  expect_deployed_outputs(net, round_trip(*net, "small_cnn", 1, 28), torch::randn({4, 1, 28, 28}));
}

TEST(DeployModel, BinaryLayersAreAtLeast31TimesSmallerThanFloat32) {
  torch::manual_seed(4);
  auto net = lowbit::models::make("reactnet_resnet18", {}, policy("xnor", "rsign"));
  randomise(*net);
  const auto records = lowbit::deploy::export_network(*net, "reactnet_resnet18", {});
  const auto sizes = lowbit::deploy::packed_sizes(records);
  // 10.99M binary weights of 16 convolutions: 1 bit each plus a float scale per output channel.
  EXPECT_EQ(sizes.float32, 4 * int64_t{10985472});
  EXPECT_GE(static_cast<double>(sizes.float32) / sizes.packed, 31.0);
}

TEST(ExportWeight, ScaledSignQuantizersGiveCodesAndScalesThatRebuildTheirOutput) {
  torch::manual_seed(5);
  const auto w = torch::randn({6, 5, 3, 3});
  for (const std::string name : {"xnor", "ternary"}) {
    auto q = name == "xnor" ? lowbit::quant::make(name) : lowbit::quant::make(name, {{"channels", int64_t{6}}});
    const auto exported = q->export_weight(w);
    ASSERT_TRUE(exported.codes.defined()) << name;
    EXPECT_EQ(exported.bits, name == "xnor" ? 1 : 2);
    EXPECT_FALSE(exported.offsets.defined());
    EXPECT_EQ(exported.scales.sizes(), torch::IntArrayRef({6}));
    q->eval();
    const auto rebuilt = exported.codes.to(torch::kFloat) * exported.scales.view({6, 1, 1, 1});
    EXPECT_TRUE(torch::equal(rebuilt, q->forward(w).detach())) << name;
    EXPECT_TRUE(torch::equal(exported.values, rebuilt)) << name;
  }
  // Steps along the input channels are no grid of output channels: values only.
  auto lsq = lowbit::quant::make(
      "lsq", {{"bits", int64_t{4}}, {"per_channel", true}, {"channels", int64_t{5}}, {"channel_dim", int64_t{1}}});
  const auto values = lsq->export_weight(w);
  EXPECT_FALSE(values.codes.defined());
  lsq->eval();
  EXPECT_TRUE(torch::equal(values.values, lsq->forward(w).detach()));
}

// LSQ (per channel, per tensor, with LSQ+'s offset), DoReFa and AdaBin weights as the codes a .lbm
// stores: in their range, and read back by the runtime (lbm_code_values) as the quantizer's output:
// exactly for a product (LSQ), within one float32 rounding where an offset is added (DoReFa's -1,
// AdaBin's beta_w).
TEST(ExportWeight, MultiBitGridsGiveCodesTheFileReadsBackAsTheirOutput) {
  torch::manual_seed(6);
  const auto w = torch::randn({6, 5, 3, 3}) * 0.3;
  struct Case {
    std::string name;
    lowbit::Params params;
    int64_t bits, code_min, code_max;
    bool exact;
  };
  const std::vector<Case> cases = {
      {"lsq", {{"bits", int64_t{4}}, {"per_channel", true}, {"channels", int64_t{6}}}, 4, -8, 7, true},
      {"lsq", {{"bits", int64_t{2}}}, 2, -2, 1, true},
      {"lsq", {{"bits", int64_t{3}}, {"signed", false}}, 3, 0, 7, true},
      {"lsq_plus", {{"bits", int64_t{4}}}, 4, 0, 15, false},
      {"dorefa", {{"bits", int64_t{2}}}, 2, 0, 3, false},
      {"dorefa", {{"bits", int64_t{5}}}, 5, 0, 31, false},
      {"dorefa", {{"bits", int64_t{1}}}, 2, -1, 1, true},  // E sign(w / E): codes -1, 0, 1
      {"adabin", {}, 2, -1, 1, false}};
  for (const auto& c : cases) {
    const auto label = c.name + " " + std::to_string(c.bits) + "-bit";
    auto q = lowbit::quant::make(c.name, c.params);
    const auto e = q->export_weight(w);
    ASSERT_TRUE(e.codes.defined()) << label;
    EXPECT_EQ(e.bits, c.bits) << label;
    EXPECT_EQ(e.code_min, c.code_min) << label;
    EXPECT_EQ(e.code_max, c.code_max) << label;
    EXPECT_GE(e.codes.min().item<int64_t>(), c.code_min) << label;
    EXPECT_LE(e.codes.max().item<int64_t>(), c.code_max) << label;
    EXPECT_GT(std::get<0>(torch::_unique(e.codes)).numel(), 1) << label;
    const auto c32 = e.codes.contiguous();
    const auto list = [](const torch::Tensor& t) {
      return t.defined() ? std::vector<float>(t.data_ptr<float>(), t.data_ptr<float>() + t.numel()) : std::vector<float>();
    };
    const auto record = lowbit::deploy::lbm_codes_record(
        "w", c32.sizes().vec(), std::vector<int32_t>(c32.data_ptr<int32_t>(), c32.data_ptr<int32_t>() + c32.numel()),
        static_cast<uint8_t>(e.bits), static_cast<int32_t>(-e.code_min), list(e.scales.contiguous()),
        list(e.offsets.defined() ? e.offsets.contiguous() : torch::Tensor()));
    const auto values = lowbit::deploy::lbm_code_values(record);
    const auto read = torch::from_blob(const_cast<float*>(values.data()), e.values.sizes(), torch::kFloat).clone();
    q->eval();
    const auto expected = q->forward(w).detach();
    EXPECT_TRUE(torch::equal(e.values, expected)) << label;
    if (c.exact) {
      EXPECT_TRUE(torch::equal(read, expected)) << label;
    } else {
      EXPECT_LE((read - expected).abs().max().item<double>(), 2.5e-7) << label;  // one rounding of values <= 1 + |offset|
    }
  }
  // Activation quantizers have no weight grid.
  EXPECT_FALSE(lowbit::quant::make("dorefa", {{"bits", int64_t{2}}, {"target", std::string("activation")}})
                   ->export_weight(w.abs().clamp_max(1))
                   .codes.defined());
}

std::vector<uint8_t> edited(std::vector<LbmRecord> records, const std::function<void(std::vector<LbmRecord>&)>& edit) {
  edit(records);
  return lowbit::deploy::serialize_lbm(records);
}

std::string error_of(const std::vector<uint8_t>& bytes) {
  try {
    Model::parse(bytes, "m.lbm");
  } catch (const LbmError& e) {
    return e.what();
  }
  return "";
}

TEST(DeployModel, BadDescriptionsAndRecordsNameTheLayerAndRecord) {
  torch::manual_seed(6);
  auto net = lowbit::models::make("reactnet_resnet18", small_resnet(), policy("xnor", "rsign"));
  lowbit::deploy::ModelInput input;
  const auto records = lowbit::deploy::export_network(*net, "r", input);
  const auto text = [](std::vector<LbmRecord>& rs, const std::function<std::string(std::string)>& f) {
    auto& d = rs.front();
    auto s = f(std::string(d.payload.begin(), d.payload.end()));
    d.payload.assign(s.begin(), s.end());
    d.dims = {static_cast<int64_t>(s.size())};
  };
  const auto missing = error_of(edited(records, [](auto& rs) {
    rs.erase(std::find_if(rs.begin(), rs.end(), [](const LbmRecord& r) { return r.name == "layer2.1.bn.running_mean"; }));
  }));
  EXPECT_NE(missing.find("m.lbm: layers[7] (layer2.1).body[1] (layer2.1.bn): the file has no record 'layer2.1.bn.running_mean'"),
            std::string::npos)
      << missing;
  const auto unknown = error_of(edited(records, [&](auto& rs) {
    text(rs, [](std::string s) { return std::regex_replace(s, std::regex("op: global_avg_pool"), "op: global_pool"); });
  }));
  EXPECT_NE(unknown.find("m.lbm: layers[18]: unknown op 'global_pool'"), std::string::npos) << unknown;
  const auto version = error_of(edited(records, [&](auto& rs) {
    text(rs, [](std::string s) { return std::regex_replace(s, std::regex("version: 1"), "version: 2"); });
  }));
  EXPECT_NE(version.find("version 2, this lowbit reads 'lowbit-deploy' version 1"), std::string::npos) << version;
  const auto shape = error_of(edited(records, [](auto& rs) {
    for (auto& r : rs) {
      if (r.name == "layer1.0.activation.slope") r.dims = {8}, r.payload.resize(32);
    }
  }));
  EXPECT_NE(shape.find("record 'layer1.0.activation.slope' has 8 values, expected 16"), std::string::npos) << shape;
  const auto unused = error_of(edited(records, [](auto& rs) {
    rs.push_back({"stray.weight", LbmKind::Float32, {1}, {}, std::vector<uint8_t>(4)});
  }));
  EXPECT_NE(unused.find("record 'stray.weight' is not used by any layer"), std::string::npos) << unused;
}

TEST(DeployExport, UnsupportedModulesAreNamed) {
  torch::nn::Sequential net(torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 4, 3)), torch::nn::Tanh());
  try {
    lowbit::deploy::export_network(*net, "tanh_net", {});
    FAIL() << "tanh exported";
  } catch (const std::invalid_argument& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("lowbit export: 1 (torch::nn::TanhImpl)"), std::string::npos) << message;
    EXPECT_NE(message.find("no deploy layer for this module yet"), std::string::npos) << message;
  }
  auto reactnet_a = lowbit::models::make("reactnet_a", {{"widths", std::vector<int64_t>{8, 16, 32}}},
                                         policy("xnor", "rsign", {{"scale_grad", std::string("detached")}}));
  const auto shortcut = lowbit::testing::error_of([&] { lowbit::deploy::export_network(*reactnet_a, "reactnet_a", {}); });
  EXPECT_NE(shortcut.find("the avgpool_repeat shortcut has no deploy form yet"), std::string::npos) << shortcut;
}

// Activations on 8-bit grids round last-bit differences into other codes: a network with them runs
// its float convolutions as the NCHW training graph does and its batch norms by the training
// graph's call, and gives its outputs exactly (channels-last with the batch norms folded in, this
// network deployed 8.3e-3 away at logits' scale 4.07).
TEST(DeployModel, LsqW4A8ResNetRunsItsFloatConvolutionsAsTrained) {
  torch::manual_seed(10);
  auto net = lowbit::models::make("resnet18", small_resnet(),
                                  {{"lsq", {{"bits", int64_t{4}}}}, {"lsq", {{"bits", int64_t{8}}, {"signed", false}}}, true});
  randomise(*net);
  {
    torch::NoGradGuard no_grad;
    net->train();
    net->forward(torch::randn({8, 3, 32, 32}));  // initialises the LSQ steps from a batch
  }
  const auto model = round_trip(*net, "resnet18", 3, 32);
  expect_deployed_outputs(net, model, torch::randn({8, 3, 32, 32}), 0);
}

// Codes hold at most 8 bits: a 12-bit LSQ weight is stored as its float32 values, a 4-bit one as codes.
TEST(DeployModel, WeightsOfMoreThanEightBitsStayFloat32) {
  for (const int64_t bits : {4, 12}) {
    torch::manual_seed(8);
    auto net = lowbit::models::make("small_cnn", {{"channels", std::vector<int64_t>{8, 16}}},
                                    policy("lsq", "identity", {{"bits", bits}}));
    randomise(*net);
    lowbit::deploy::ModelInput input;
    input.channels = 1;
    input.height = input.width = 28;
    const auto records = lowbit::deploy::export_network(*net, "small_cnn", input);
    int64_t codes = 0;
    for (const auto& r : records) codes += r.kind == LbmKind::Codes;
    EXPECT_EQ(codes, bits == 4 ? 1 : 0) << bits << " bits";  // the one quantized convolution
    expect_deployed_outputs(net, Model::parse(lowbit::deploy::serialize_lbm(records), "s.lbm"),
                            torch::randn({2, 1, 28, 28}));
  }
}

// AdaBin's ResNet-18: Maxout after the stem and every unit, adabin_act inputs (alpha_a (s + beta_a)),
// weights as 2-bit codes (-1, 0, +1) with alpha_w and beta_w per output channel as scale and offset.
TEST(DeployModel, AdaBinWithMaxoutAndOffsetBinaryWeights) {
  torch::manual_seed(7);
  auto net = lowbit::models::make("adabin_resnet18", small_resnet(), policy("adabin", "adabin_act"));
  randomise(*net);
  {
    torch::NoGradGuard no_grad;  // the activations' centre inside their inputs' range, as trained ones
    for (auto& p : net->named_parameters()) {
      if (p.key().find("alpha_a") != std::string::npos) p.value().uniform_(0.5, 1.5);
      if (p.key().find("beta_a") != std::string::npos) p.value().uniform_(-0.2, 0.2);
    }
  }
  lowbit::deploy::ModelInput input;
  input.height = input.width = 32;
  const auto records = lowbit::deploy::export_network(*net, "adabin_resnet18", input);
  int64_t codes = 0;
  for (const auto& r : records) codes += r.kind == LbmKind::Codes && r.bits == 2 && r.offsets.size() == static_cast<size_t>(r.dims[0]);
  EXPECT_EQ(codes, 16);  // the 16 units' 3x3 convolutions
  const auto model = Model::parse(lowbit::deploy::serialize_lbm(records), "adabin.lbm");
  EXPECT_NE(model.description().find("input: adabin"), std::string::npos) << model.description();
  EXPECT_NE(model.description().find("op: maxout"), std::string::npos) << model.description();
  expect_deployed_outputs(net, model, torch::randn({2, 3, 32, 32}));
}

}  // namespace deploy_model_test
