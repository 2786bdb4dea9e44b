// Classifier: a network as an engine Model under the network's own names, its mode, its outputs
// (named heads of a last layer) and its loss.
#include <lowbit/csrc/engine/task/classifier.h>
#include <lowbit/modules/layers/named_outputs.h>

#include <gtest/gtest.h>

#include <torch/torch.h>

namespace {

// A last layer with two heads, as DeiT's.
struct TwoHeadsImpl : torch::nn::Cloneable<TwoHeadsImpl>, lowbit::layers::NamedOutputs {
  void reset() override {
    a = register_module("a", torch::nn::Linear(4, 3));
    b = register_module("b", torch::nn::Linear(4, 3));
  }
  TwoHeadsImpl() { reset(); }
  torch::Tensor forward(const torch::Tensor& x) { return a(x); }
  std::vector<std::pair<std::string, torch::Tensor>> outputs(const torch::Tensor& x) override {
    return {{"logits", a(x)}, {"aux", b(x)}};
  }
  torch::nn::Linear a{nullptr}, b{nullptr};
};
TORCH_MODULE(TwoHeads);

// A module of the user's with its own parameter and a mode-dependent forward.
struct ScaledImpl : torch::nn::Module {
  ScaledImpl() : linear(register_module("linear", torch::nn::Linear(4, 3))) {
    scale = register_parameter("scale", torch::ones({1}));
  }
  torch::Tensor forward(const torch::Tensor& x) { return linear(x) * scale * (is_training() ? 1.0 : 2.0); }
  torch::nn::Linear linear;
  torch::Tensor scale;
};
TORCH_MODULE(Scaled);

}  // namespace

TEST(Classifier, KeepsTheNetworksNamesAndTensors) {
  torch::nn::Sequential net(torch::nn::Linear(4, 8), torch::nn::ReLU(), torch::nn::Linear(8, 3));
  lowbit::engine::Classifier model(net);
  EXPECT_EQ(model.named_parameters().keys(), net->named_parameters().keys());
  for (const auto& p : net->named_parameters()) EXPECT_TRUE(model.named_parameters()[p.key()].is_same(p.value()));
  Scaled scaled;
  lowbit::engine::Classifier user(scaled);
  EXPECT_EQ(user.named_parameters().keys(), scaled->named_parameters().keys());
  // The mode reaches the network's own forward.
  lowbit::engine::Batch batch{torch::randn({2, 4}), torch::tensor({0, 2})};
  const auto train = user.forward(batch).at("logits");
  user.eval();
  EXPECT_FALSE(scaled->is_training());
  EXPECT_TRUE(torch::allclose(user.forward(batch).at("logits"), 2 * train));
}

TEST(Classifier, ReportsTheNamedOutputsOfALastLayer) {
  TwoHeads heads;
  torch::nn::Sequential net(torch::nn::Linear(5, 4), heads);
  lowbit::engine::Classifier model(net);
  lowbit::engine::Batch batch{torch::randn({2, 5}), torch::tensor({1, 0})};
  const auto outputs = model.forward(batch);
  ASSERT_EQ(outputs.size(), 2u);
  const auto hidden = net[0]->as<torch::nn::Linear>()->forward(batch.images);
  EXPECT_TRUE(torch::allclose(outputs.at("logits"), heads->a(hidden)));
  EXPECT_TRUE(torch::allclose(outputs.at("aux"), heads->b(hidden)));
}

TEST(Classifier, LossIsLabelSmoothedCrossEntropyWithItsGradient) {
  torch::manual_seed(1);
  torch::nn::Linear net(4, 3);
  lowbit::engine::Classifier model(net, lowbit::engine::ClassifierOptions().label_smoothing(0.2));
  lowbit::engine::Batch batch{torch::randn({5, 4}), torch::tensor({0, 1, 2, 1, 0})};
  const auto losses = model.loss(batch, model.forward(batch));
  ASSERT_EQ(losses.names(), std::vector<std::string>{"ce"});
  // (1 - eps)·CE + eps·mean over classes of -log p, by hand.
  const auto logp = torch::log_softmax(net(batch.images), 1);
  const auto expected = (0.8 * -logp.gather(1, batch.labels.unsqueeze(1)).squeeze(1) - 0.2 * logp.mean(1)).mean();
  EXPECT_NEAR(losses.total().item<double>(), expected.item<double>(), 1e-6);
  losses.total().backward();
  const auto grad = net->weight.grad().clone();
  net->weight.grad().zero_();
  expected.backward();
  EXPECT_TRUE(torch::allclose(grad, net->weight.grad(), 1e-6, 1e-7));
  EXPECT_THROW({ lowbit::engine::Classifier bad(net, lowbit::engine::ClassifierOptions().label_smoothing(1.0)); },
               c10::ValueError);
}
