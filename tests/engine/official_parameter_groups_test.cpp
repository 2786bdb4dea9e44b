// The shipped recipes' parameter groups against the official training scripts' rules:
// ReActNet's step 1 (also ReBNN's and RBONN's) decays `p.ndimension() == 4 or 'conv' in pname`,
// which in lowbit's names is the 4-D parameters (convolutions, RSign thresholds, RPReLU's shifts;
// no other parameter is named conv); RBONN's step 2 trains u at a tenth of the learning rate.
#include <lowbit/csrc/engine/build.h>
#include <lowbit/csrc/engine/optim/optimizer.h>
#include <lowbit/csrc/engine/recipe/recipe.h>

#include <gtest/gtest.h>

#include <torch/torch.h>

#include <string>

namespace {

struct Grouped {
  std::string name;
  int64_t dim;
  double lr, weight_decay;
};

// Every parameter of stage `stage`'s network with its group's learning rate and weight decay.
std::vector<Grouped> grouped_parameters(const std::string& recipe_name, size_t stage) {
  const auto recipe = lowbit::engine::parse_recipe(std::string(LOWBIT_SOURCE_DIR) + "/recipes/" + recipe_name,
                                                   {"device=cpu"});
  auto network = lowbit::engine::build_network(recipe, stage);
  const auto named = network->named_parameters();
  auto built = lowbit::engine::make_optimizer(recipe.stages[stage].optimizer, named);
  std::vector<Grouped> out;
  for (auto& group : built.optimizer->param_groups()) {
    const auto* adam = dynamic_cast<const torch::optim::AdamOptions*>(&group.options());
    EXPECT_NE(adam, nullptr) << recipe_name << ": the official scripts use Adam";
    if (!adam) continue;
    for (const auto& p : group.params()) {
      for (const auto& item : named) {
        if (item.value().is_same(p)) out.push_back({item.key(), p.dim(), adam->lr(), adam->weight_decay()});
      }
    }
  }
  EXPECT_EQ(out.size(), named.size()) << recipe_name;
  return out;
}

}  // namespace

TEST(OfficialParameterGroups, ReActNetStepOneDecaysExactlyTheFourDimensionalParameters) {
  for (const char* name : {"reactnet/imagenet_resnet18.yaml", "reactnet/imagenet_reactnet_a.yaml",
                           "rebnn/imagenet_resnet18.yaml", "rbonn/imagenet_resnet18.yaml"}) {
    SCOPED_TRACE(name);
    int64_t decayed = 0;
    for (const auto& p : grouped_parameters(name, 0)) {
      EXPECT_EQ(p.weight_decay, p.dim == 4 ? 1e-5 : 0.0) << p.name;
      decayed += p.weight_decay > 0;
    }
    EXPECT_GT(decayed, 0);
  }
}

TEST(OfficialParameterGroups, RbonnTrainsItsRecurrentWeightsAtATenthOfTheLearningRate) {
  int64_t recurrent = 0;
  for (const auto& p : grouped_parameters("rbonn/imagenet_resnet18.yaml", 1)) {
    const bool is_u = p.name.size() > 2 && p.name.substr(p.name.size() - 2) == ".u";
    EXPECT_DOUBLE_EQ(p.lr, is_u ? 1e-4 : 1e-3) << p.name;
    recurrent += is_u;
  }
  EXPECT_EQ(recurrent, 16);  // one per binary convolution of ResNet-18
}
