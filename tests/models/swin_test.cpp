// The Swin builders against timm 1.0.31 (tests/models/data/timm_keys.py wrote the data): state-dict
// names and shapes, the name maps of configs/name_maps/ (Swin and DeiT), a tiny Swin's output and
// gradients; the window helpers; the quantized settings of Q-ViT and Bi-ViT; bad options.
#include <lowbit/csrc/engine/checkpoint/load_state.h>
#include <lowbit/csrc/engine/checkpoint/torch_save.h>
#include <lowbit/csrc/engine/recipe/recipe.h>
#include <lowbit/csrc/util/files.h>
#include <lowbit/modules/layers/qlinear.h>
#include <lowbit/modules/layers/windows.h>
#include <lowbit/modules/models/registry.h>
#include <lowbit/modules/quant/qvit_act.h>

#include <gtest/gtest.h>

#include <torch/torch.h>

#include <map>
#include <regex>
#include <sstream>

namespace {

namespace engine = lowbit::engine;
using lowbit::models::QuantPolicy;

std::string swin_source_file(const std::string& path) { return std::string(LOWBIT_SOURCE_DIR) + "/" + path; }

// "name shape" lines of tests/models/data/timm_keys/<model>.txt, in order ('#' lines skipped).
std::vector<std::pair<std::string, std::string>> timm_key_list(const std::string& model) {
  std::istringstream lines(lowbit::util::read_file(swin_source_file("tests/models/data/timm_keys/" + model + ".txt")));
  std::vector<std::pair<std::string, std::string>> keys;
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line[0] == '#') continue;
    const auto space = line.find(' ');
    keys.emplace_back(line.substr(0, space), line.substr(space + 1));
  }
  return keys;
}

std::string swin_shape_text(const torch::Tensor& t) {
  std::string text;
  for (const auto s : t.sizes()) text += (text.empty() ? "" : "x") + std::to_string(s);
  return text.empty() ? "scalar" : text;
}

std::map<std::string, std::string> state_shapes(torch::nn::Module& model) {
  std::map<std::string, std::string> shapes;
  for (const auto& p : model.named_parameters()) shapes[p.key()] = swin_shape_text(p.value());
  for (const auto& b : model.named_buffers()) shapes[b.key()] = swin_shape_text(b.value());
  return shapes;
}

// The load options of a configs/name_maps/ file.
engine::LoadOptions name_map_options(const std::string& file) {
  const auto spec = engine::read_name_map_file(swin_source_file("configs/name_maps/" + file));
  std::vector<engine::Rename> rules;
  for (const auto& [pattern, replacement] : spec.rules) rules.push_back({pattern, replacement});
  return engine::LoadOptions().renames(engine::NameMap(rules)).keep(spec.keep).reshape(spec.reshape).source(file);
}

// Expects the timm keys of `timm_model`, renamed by `name_map`, to be exactly `ours` (names and
// shapes); keys matching `ignored` in ours are lowbit's own state (quantizers).
void expect_same_keys(const std::string& timm_model, const std::map<std::string, std::string>& ours,
                      const engine::NameMap& name_map, const std::regex& ignored = std::regex("$^")) {
  SCOPED_TRACE(timm_model);
  std::map<std::string, std::string> theirs;
  for (const auto& [key, shape] : timm_key_list(timm_model)) theirs[name_map.apply(key)] = shape;
  for (const auto& [key, shape] : theirs) {
    const auto it = ours.find(key);
    if (it == ours.end()) {
      ADD_FAILURE() << "missing " << key;
    } else {
      EXPECT_EQ(it->second, shape) << key;
    }
  }
  for (const auto& [key, shape] : ours) {
    if (!std::regex_search(key, ignored)) EXPECT_TRUE(theirs.count(key)) << "extra " << key;
  }
}

QuantPolicy swin_qvit_policy(int64_t bits) {
  QuantPolicy policy;
  policy.weight = {"lsq", {{"bits", bits}, {"per_channel", true}, {"init_per_channel", false}}};
  policy.input = {"qvit_act", {{"bits", bits}}};
  return policy;
}

lowbit::Params swin_qvit_params(int64_t bits, lowbit::Params shape = {}) {
  shape.insert({{"embed_bits", int64_t{8}}, {"head_bits", int64_t{8}}, {"attention_bits", bits}, {"irm", true},
                {"gelu_clip", 10.0}});
  return shape;
}

QuantPolicy swin_bivit_policy() {
  QuantPolicy policy;
  policy.weight = {"xnor", {{"scale_grad", std::string("detached")}}};
  policy.input = {"sign", {{"ste", std::string("approx")}}};
  return policy;
}

// Bi-ViT's Swin (bi_swin_transformer.py): no IRM, binary linears without bias.
lowbit::Params swin_bivit_params(lowbit::Params shape = {}) {
  shape.insert({{"attention_bits", int64_t{1}}, {"linear_bias", false}, {"gelu_clip", 10.0}});
  return shape;
}

const std::regex kSwinQuantizerState(R"(\.(weight_quantizer|input_quantizer|q_act|k_act|v_act|attn_act|norm_q|norm_k)\.)");

// The tiny Swin of tests/models/data/swin_reference.pt.
lowbit::Params reference_shape() {
  return {{"image_size", int64_t{32}},
          {"patch_size", int64_t{2}},
          {"in_channels", int64_t{3}},
          {"classes", int64_t{10}},
          {"embed_dim", int64_t{8}},
          {"depths", std::vector<int64_t>{2, 2, 2}},
          {"heads", std::vector<int64_t>{2, 2, 4}},
          {"window_size", int64_t{4}}};
}

}  // namespace

TEST(SwinWindows, RelativePositionIndexIsTimms) {
  // window 2, tokens (0,0) (0,1) (1,0) (1,1): (dy + 1) * 3 + (dx + 1)
  EXPECT_TRUE(torch::equal(lowbit::layers::relative_position_index(2),
                           torch::tensor({{4, 3, 1, 0}, {5, 4, 2, 1}, {7, 6, 4, 3}, {8, 7, 5, 4}}, torch::kLong)));
  EXPECT_EQ(lowbit::layers::relative_position_index(7).max().item<int64_t>(), 13 * 13 - 1);
}

TEST(SwinWindows, ShiftedMaskSeparatesWrappedRegions) {
  // a 4x4 grid, windows 2, shift 1: regions along each axis [0, 2), [2, 3), [3, 4)
  const auto mask = lowbit::layers::shifted_window_mask({4, 2, 1});
  ASSERT_EQ(mask.sizes(), (std::vector<int64_t>{4, 4, 4}));
  EXPECT_TRUE(torch::equal(mask[0], torch::zeros({4, 4})));  // one region
  // window (0, 1): columns 2 and 3 are different regions, rows 0 and 1 the same
  EXPECT_TRUE(torch::equal(mask[1], torch::tensor({{0., -100., 0., -100.}, {-100., 0., -100., 0.},
                                                   {0., -100., 0., -100.}, {-100., 0., -100., 0.}})));
  // window (1, 1): four regions
  EXPECT_TRUE(torch::equal(mask[3], (1 - torch::eye(4)) * -100));
}

TEST(SwinWindows, PartitionAndReverseAreInverseAndClipLikeTimm) {
  const auto grid = torch::arange(2 * 8 * 8 * 3, torch::kFloat).view({2, 8, 8, 3});
  const auto windows = lowbit::layers::window_partition(grid, 4);
  ASSERT_EQ(windows.sizes(), (std::vector<int64_t>{8, 16, 3}));
  EXPECT_TRUE(torch::equal(windows[1][0], grid[0][0][4]));  // window (0, 1) starts at column 4
  EXPECT_TRUE(torch::equal(lowbit::layers::window_reverse(windows, 4, 8, 8), grid));
  const auto fit = [](int64_t side, int64_t window, int64_t shift) {
    const auto w = lowbit::layers::fit_windows(side, window, shift);
    return std::vector<int64_t>{w.side, w.window, w.shift};
  };
  EXPECT_EQ(fit(56, 7, 3), (std::vector<int64_t>{56, 7, 3}));
  EXPECT_EQ(fit(7, 7, 3), (std::vector<int64_t>{7, 7, 0}));  // Swin-T's last stage: one window, no shift
  EXPECT_EQ(fit(4, 7, 3), (std::vector<int64_t>{4, 4, 0}));
}

TEST(SwinBuilder, FullPrecisionStateDictsAreTimms) {
  for (const auto& [ours, theirs] : {std::pair{"swin_tiny", "swin_tiny_patch4_window7_224"},
                                     std::pair{"swin_small", "swin_small_patch4_window7_224"},
                                     std::pair{"swin_base", "swin_base_patch4_window7_224"}}) {
    auto model = lowbit::models::make(ours, {}, QuantPolicy{});
    expect_same_keys(theirs, state_shapes(*model), engine::NameMap());
  }
}

// A quantized Swin holds timm's keys and the quantizers' (and IRM's) own state, which the name
// map keeps, so that timm's full-precision file loads strictly.
TEST(SwinBuilder, QuantizedSwinHoldsTimmKeysBesideQuantizerState) {
  auto model = lowbit::models::make("swin_tiny", swin_qvit_params(4), swin_qvit_policy(4));
  expect_same_keys("swin_tiny_patch4_window7_224", state_shapes(*model), engine::NameMap(), kSwinQuantizerState);
  engine::NamedTensors zeros;
  for (const auto& [key, shape] : timm_key_list("swin_tiny_patch4_window7_224")) {
    zeros.insert(key, torch::zeros_like(model->named_parameters()[key]));
  }
  const auto report = engine::load_into(*model, zeros, name_map_options("timm_swin.yaml").strict(true));
  EXPECT_EQ(report.loaded.size(), zeros.size());
  EXPECT_FALSE(report.missing.empty());  // the quantizers' state, kept
  for (const auto& name : report.missing) EXPECT_TRUE(std::regex_search(name, kSwinQuantizerState)) << name;
}

// microsoft/Swin-Transformer's layout (merging at the end of a stage, `head`, saved buffers) loads
// strictly through configs/name_maps/swin_official.yaml.
TEST(SwinBuilder, OfficialSwinTinyLoadsThroughItsNameMap) {
  auto model = lowbit::models::make("swin_tiny", {}, QuantPolicy{});
  const auto ours = state_shapes(*model);
  engine::NamedTensors zeros;
  for (const auto& [key, shape] : timm_key_list("swin_tiny_official")) {
    std::vector<int64_t> dims;
    std::istringstream parts(shape);
    for (std::string d; std::getline(parts, d, 'x');) dims.push_back(std::stoll(d));
    zeros.insert(key, torch::zeros(dims));
  }
  const auto report = engine::load_into(*model, zeros, name_map_options("swin_official.yaml").strict(true));
  EXPECT_EQ(report.dropped.size(), 12u + 5u);  // relative_position_index per block, attn_mask per shifted block
  EXPECT_EQ(report.loaded.size(), ours.size());
}

TEST(DeitNames, TimmKeysMapOntoDeitThroughTheNameMap) {
  const auto spec = engine::read_name_map_file(swin_source_file("configs/name_maps/timm_deit.yaml"));
  std::vector<engine::Rename> rules;
  for (const auto& [pattern, replacement] : spec.rules) rules.push_back({pattern, replacement});
  for (const std::string size : {"tiny", "small", "base"}) {
    for (const bool distilled : {false, true}) {
      auto model = lowbit::models::make("deit_" + size, {{"distilled", distilled}}, QuantPolicy{});
      const auto timm_model = "deit_" + size + (distilled ? "_distilled" : "") + "_patch16_224";
      expect_same_keys(timm_model, state_shapes(*model), engine::NameMap(rules));
    }
  }
}

// timm's SwinTransformer(img_size 32, patch 2, embed 8, depths (2, 2, 2), heads (2, 2, 4), window
// 4) with random weights: shifted windows on 16x16 and 8x8 grids, two patch mergings, a window
// clipped to the 4x4 grid. Its state dict loads strictly; output and gradients match timm's
// (float64) in float32 to 1e-5 and in float64 to 1e-10.
TEST(SwinReference, ReproducesTimmOutputAndGradients) {
  const auto path = swin_source_file("tests/models/data/swin_reference.pt");
  const auto file = engine::read_torch_save(path).toGenericDict();
  const auto input = file.at("input").toTensor();
  const auto expected = file.at("output").toTensor();
  auto model = lowbit::models::make("swin", reference_shape(), QuantPolicy{});
  engine::load_into(*model, engine::read_pytorch_state_dict(path, "model").tensors,
                    name_map_options("timm_swin.yaml").strict(true));
  model->eval();
  for (const auto dtype : {torch::kFloat, torch::kDouble}) {
    SCOPED_TRACE(dtype == torch::kFloat ? "float32" : "float64");
    const double tolerance = dtype == torch::kFloat ? 1e-5 : 1e-10;
    model->to(dtype);
    model->zero_grad();
    const auto x = input.to(dtype).detach().clone().requires_grad_(true);
    const auto output = model->forward(x);
    const auto max_error = (output.to(torch::kDouble) - expected).abs().max().item<double>();
    std::cout << "Swin vs timm, " << (dtype == torch::kFloat ? "float32" : "float64") << ": max |output error| "
              << max_error << "\n";
    EXPECT_LT(max_error, tolerance);
    const auto weights = torch::linspace(-1, 1, output.numel(), output.options()).view(output.sizes());
    (output * weights).sum().backward();
    const auto grad_error = (x.grad().to(torch::kDouble) - file.at("input_grad").toTensor()).abs().max().item<double>();
    std::cout << "  max |input gradient error| " << grad_error << "\n";
    EXPECT_LT(grad_error, tolerance);
    const auto table = model->named_parameters()["layers.0.blocks.1.attn.relative_position_bias_table"];
    EXPECT_LT((table.grad().to(torch::kDouble) - file.at("table_grad").toTensor()).abs().max().item<double>(),
              tolerance);
  }
}

// Forward and backward of a small Swin (28x28, two stages: shifted 7x7 windows on 14x14, one
// window on 7x7) in full precision, Q-ViT W4A4 and Bi-ViT W1A1; every relative position bias table
// gets a gradient.
TEST(SwinBuilder, FullPrecisionQvitAndBivitTrainStepsReachEveryBiasTable) {
  const std::vector<std::pair<std::string, std::pair<lowbit::Params, QuantPolicy>>> settings = {
      {"fp32", {{}, QuantPolicy{}}}, {"qvit_w4a4", {swin_qvit_params(4), swin_qvit_policy(4)}},
      {"bivit_w1a1", {swin_bivit_params(), swin_bivit_policy()}}};
  for (const auto& [name, setting] : settings) {
    SCOPED_TRACE(name);
    torch::manual_seed(0);
    auto model = lowbit::models::make("swin", setting.first, setting.second);
    model->train();
    const auto images = torch::randn({2, 1, 28, 28}, torch::requires_grad());
    const auto logits = model->forward(images);
    ASSERT_EQ(logits.sizes(), (std::vector<int64_t>{2, 10}));
    torch::nn::functional::cross_entropy(logits, torch::tensor({3, 7})).backward();
    EXPECT_EQ(images.grad().sizes(), images.sizes());
    int tables = 0;
    for (const auto& p : model->named_parameters()) {
      if (p.key().find("relative_position_bias_table") == std::string::npos) continue;
      ++tables;
      ASSERT_TRUE(p.value().grad().defined()) << p.key();
      EXPECT_TRUE(torch::isfinite(p.value().grad()).all().item<bool>()) << p.key();
      EXPECT_GT(p.value().grad().abs().sum().item<double>(), 0) << p.key();
    }
    EXPECT_EQ(tables, 4);
  }
}

TEST(SwinBuilder, QuantizedLayersFollowThePolicyAndTheEndBits) {
  auto qvit = lowbit::models::make("swin_tiny", swin_qvit_params(4), swin_qvit_policy(4));
  int block_linears = 0;
  for (const auto& item : qvit->named_modules()) {
    const auto* linear = dynamic_cast<const lowbit::layers::QLinearImpl*>(item.value().get());
    if (!linear) continue;
    const bool end = item.key() == "head.fc";
    block_linears += end ? 0 : 1;
    EXPECT_EQ(linear->weight_quantizer->bits(), end ? 8 : 4) << item.key();
    EXPECT_EQ(linear->input_quantizer->bits(), end ? 8 : 4) << item.key();
  }
  EXPECT_EQ(block_linears, 12 * 4 + 3);  // qkv, proj, fc1, fc2 per block; three patch mergings
  const auto modules = qvit->named_modules();
  auto* attn_act = dynamic_cast<lowbit::quant::QvitActImpl*>(modules["layers.2.blocks.3.attn.attn_act"].get());
  ASSERT_NE(attn_act, nullptr);
  EXPECT_EQ(attn_act->alpha.size(0), 12);  // per head
  EXPECT_TRUE(modules.contains("layers.0.blocks.0.attn.norm_q"));

  auto bivit = lowbit::models::make("swin_tiny", swin_bivit_params(), swin_bivit_policy());
  const auto names = bivit->named_parameters();
  EXPECT_FALSE(names.contains("layers.0.blocks.0.attn.qkv.bias"));
  EXPECT_FALSE(bivit->named_modules().contains("layers.0.blocks.0.attn.norm_q"));
  EXPECT_TRUE(names.contains("layers.0.blocks.0.attn.relative_position_bias_table"));
}

TEST(SwinBuilder, BadOptionsAreNamed) {
  const auto key_of = [](const std::string& model, const lowbit::Params& params) -> std::string {
    try {
      lowbit::models::make(model, params, QuantPolicy{});
    } catch (const lowbit::OptionError& e) {
      return e.key_path() + " | " + e.msg();
    }
    return "(no error)";
  };
  EXPECT_EQ(key_of("swin", {{"window_size", int64_t{4}}}),
            "window_size | model 'swin': window_size 4 must divide stage 0's grid side 14 (or be at least it)");
  EXPECT_EQ(key_of("swin", {{"heads", std::vector<int64_t>{2}}}),
            "heads | model 'swin': heads must have one entry per stage (2), got 1");
  EXPECT_EQ(key_of("swin", {{"heads", std::vector<int64_t>{2, 5}}}),
            "heads | model 'swin': heads[1] (5) must divide stage 1's width 64");
  EXPECT_EQ(key_of("swin", {{"depths", std::vector<int64_t>{2, 2, 2}}, {"heads", std::vector<int64_t>{2, 4, 8}}})
                .rfind("image_size | model 'swin': stage 1's grid (7x7) must be even for patch merging", 0),
            0u);
  EXPECT_EQ(key_of("swin", {{"patch_size", int64_t{3}}}).rfind("patch_size | ", 0), 0u);
  EXPECT_EQ(key_of("swin_tiny", {{"window_size", int64_t{8}}}).rfind("window_size | ", 0), 0u);  // not an option
  EXPECT_EQ(key_of("swin", {{"drop_path", 1.5}}).rfind("drop_path | ", 0), 0u);
}
