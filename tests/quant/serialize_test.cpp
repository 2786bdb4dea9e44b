// Every registered quantizer: torch::save / torch::load round-trip, clone() is a deep copy, and
// registry_name() + config() rebuild it.
#include <lowbit/modules/quant/registry.h>

#include <gtest/gtest.h>

#include <torch/torch.h>

#include <sstream>

namespace {

struct Case {
  std::string name;
  lowbit::Params params;
};

// Inputs [8, 4, 3, 3]: a conv weight with 8 output channels, or an activation with 4 channels.
std::vector<Case> cases() {
  return {{"identity", {}},
          {"sign", {{"ste", "approx"}}},
          {"sign", {{"ste", "identity"}, {"latent_clip", 1.0}}},
          {"xnor", {}},
          {"xnor", {{"latent_center", true}, {"latent_clip", 0.5}}},
          {"ternary", {}},
          {"ternary", {{"per_channel", false}}},
          {"ternary", {{"scale", "learnable"}, {"channels", 8}}},
          {"ternary", {{"scale", "learnable"}, {"per_channel", false}}},
          {"lsq", {{"bits", 3}}},
          {"lsq", {{"bits", 4}, {"per_channel", true}, {"channels", 8}}},
          {"lsq", {{"bits", 2}, {"init", "three_sigma"}}},
          {"lsq_plus", {{"bits", 4}}},
          {"lsq_plus", {{"bits", 2}, {"per_channel", true}, {"channels", 4}, {"channel_dim", 1}}},
          {"dorefa", {{"bits", 2}}},
          {"dorefa", {{"bits", 3}, {"target", "activation"}}},
          {"rsign", {{"channels", 4}}},
          {"rebnn", {{"channels", 8}}},
          {"rebnn", {{"channels", 8}, {"gamma_mode", "paper_dynamic"}}},
          {"rbonn", {{"channels", 8}}},
          {"idadet", {{"channels", 8}}},
          {"adabin", {}},
          {"adabin_act", {}},
          {"adabin_act", {{"form", "paper"}}},
          {"lsq", {{"bits", 1}, {"per_channel", true}, {"channels", 8}, {"init_per_channel", false}}},
          {"qvit_act", {{"bits", 4}, {"channels", 4}, {"channel_dim", 1}}},
          {"qvit_act", {{"bits", 1}, {"channels", 4}, {"channel_dim", 1}}}};
}

std::string label(const Case& c) { return c.name + "/" + std::to_string(c.params.size()); }

// Moves every learnable value away from its initialisation, as training would.
void perturb(torch::nn::Module& m) {
  torch::NoGradGuard no_grad;
  for (auto& p : m.parameters()) p.add_(torch::rand_like(p) * 0.1);
}

}  // namespace

TEST(QuantizerState, SaveLoadRoundTripsOutputs) {
  torch::manual_seed(0);
  const auto x = torch::randn({8, 4, 3, 3});
  for (const auto& c : cases()) {
    auto original = lowbit::quant::make(c.name, c.params);
    original(x);  // data-dependent initialisation (LSQ)
    perturb(*original);
    const auto expected = original(x);

    std::stringstream stream;
    torch::save(original, stream);
    auto restored = lowbit::quant::make(c.name, c.params);
    torch::load(restored, stream);
    EXPECT_TRUE(torch::equal(restored(x), expected)) << label(c);
    EXPECT_EQ(restored->named_parameters().size(), original->named_parameters().size()) << label(c);
  }
}

TEST(QuantizerState, CloneIsDeepAndEqual) {
  const auto x = torch::randn({8, 4, 3, 3});
  for (const auto& c : cases()) {
    auto original = lowbit::quant::make(c.name, c.params);
    original(x);
    auto copy = std::dynamic_pointer_cast<lowbit::quant::QuantizerImpl>(original->clone());
    ASSERT_TRUE(copy) << label(c);
    EXPECT_TRUE(torch::equal(copy->forward(x), original(x))) << label(c);
    perturb(*copy);
    for (const auto& p : original->named_parameters()) {
      EXPECT_FALSE(torch::equal(p.value(), copy->named_parameters()[p.key()])) << label(c) << " " << p.key();
    }
  }
}

namespace {

std::string text_of(const lowbit::Params& params) {
  std::ostringstream s;
  for (const auto& [key, value] : params) s << key << "=" << value << " ";
  return s.str();
}

}  // namespace

TEST(QuantizerState, ConfigRebuildsTheSameQuantizer) {
  torch::manual_seed(1);
  const auto x = torch::randn({8, 4, 3, 3});
  for (const auto& c : cases()) {
    auto original = lowbit::quant::make(c.name, c.params);
    ASSERT_FALSE(original->registry_name().empty()) << label(c);
    original(x);
    perturb(*original);
    auto rebuilt = lowbit::quant::make(original->registry_name(), original->config());
    EXPECT_EQ(text_of(rebuilt->config()), text_of(original->config())) << label(c);
    for (const auto& [key, value] : c.params) {  // every option given comes back as given
      std::ostringstream given, reported;
      given << value;
      reported << original->config().at(key);
      EXPECT_EQ(reported.str(), given.str()) << label(c) << " " << key;
    }
    lowbit::quant::copy_state(*original, *rebuilt, std::nullopt);
    original->eval();
    rebuilt->eval();
    EXPECT_TRUE(torch::equal(rebuilt->forward(x), original->forward(x))) << label(c);
  }
}
