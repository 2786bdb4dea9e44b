// DETR's backbone: layer4's feature, torchvision's names, DETR's trainable set, the mask
// following the feature map by nearest interpolation.
#include <lowbit/modules/detection/backbone.h>

#include <gtest/gtest.h>

#include <torch/torch.h>

using lowbit::detection::Backbone;
using lowbit::detection::BackboneActivation;
using lowbit::detection::ResNetBodyOptions;

TEST(DetrBackbone, GivesLayer4sFeatureAndItsMask) {
  Backbone backbone(ResNetBodyOptions(18));
  auto mask = torch::zeros({2, 64, 96}, torch::kBool);
  mask.index_put_({1, torch::indexing::Slice(), torch::indexing::Slice(64)}, true);  // image 1: 64 x 64
  const auto features = backbone(torch::randn({2, 3, 64, 96}), mask);
  EXPECT_EQ(features.map.sizes(), (std::vector<int64_t>{2, 512, 2, 3}));
  EXPECT_EQ(backbone->num_channels(), 512);
  // Feature column j takes image column floor(j 96 / 3) = 32 j: columns 0, 1 valid, 2 padding.
  const auto expected = torch::tensor({false, false, false, false, false, false, false, false, true, false, false, true})
                            .view({2, 2, 3});
  EXPECT_TRUE(torch::equal(features.mask, expected));
  EXPECT_EQ(Backbone(ResNetBodyOptions(50))->num_channels(), 2048);
}

TEST(DetrBackbone, TrainsOnlyLayer2To4AsDETR) {
  Backbone backbone(ResNetBodyOptions(18));
  int64_t trained = 0, frozen = 0;
  for (const auto& p : backbone->named_parameters()) {
    const auto& name = p.key();
    const bool later = name.rfind("body.layer2", 0) == 0 || name.rfind("body.layer3", 0) == 0 ||
                       name.rfind("body.layer4", 0) == 0;
    EXPECT_EQ(p.value().requires_grad(), later) << name;
    (later ? trained : frozen) += 1;
  }
  EXPECT_EQ(frozen, 1 + 4);  // conv1, layer1.{0,1}.conv{1,2}
  EXPECT_GT(trained, 0);
  // FrozenBatchNorm2d holds buffers only.
  EXPECT_EQ(backbone->named_buffers().size(), 4u * (1 + 4 + 12 + 3));  // bn1, layer1..4 bns, 3 downsample bns
}

TEST(DetrBackbone, Resnet50HasTorchvisionsBottleneckNames) {
  Backbone backbone(ResNetBodyOptions(50));
  const auto params = backbone->named_parameters();
  EXPECT_EQ(params["body.layer1.0.conv3.weight"].sizes(), (std::vector<int64_t>{256, 64, 1, 1}));
  EXPECT_EQ(params["body.layer4.2.conv2.weight"].sizes(), (std::vector<int64_t>{512, 512, 3, 3}));
  EXPECT_EQ(params["body.layer2.0.downsample.0.weight"].sizes(), (std::vector<int64_t>{512, 256, 1, 1}));
  EXPECT_EQ(backbone->named_buffers()["body.layer3.5.bn3.running_var"].sizes(), (std::vector<int64_t>{1024}));
}

// DETR-R101, Q-DETR's teacher: torchvision's resnet101 has 23 bottlenecks in layer3.
TEST(DetrBackbone, Resnet101HasTwentyThreeBlocksInLayer3) {
  Backbone backbone(ResNetBodyOptions(101));
  const auto params = backbone->named_parameters();
  EXPECT_TRUE(params.contains("body.layer3.22.conv3.weight"));
  EXPECT_FALSE(params.contains("body.layer3.23.conv1.weight"));
  EXPECT_EQ(params["body.layer3.22.conv3.weight"].sizes(), (std::vector<int64_t>{1024, 256, 1, 1}));
  EXPECT_EQ(backbone->num_channels(), 2048);
  EXPECT_THROW(Backbone(ResNetBodyOptions(34)), c10::ValueError);
}

TEST(DetrBackbone, RPReLULayoutPutsOneBeforeEveryConvolutionAndAfterTheSum) {
  Backbone backbone(ResNetBodyOptions(18).activation(BackboneActivation::RPReLU));
  const auto params = backbone->named_parameters();
  for (const auto* name : {"body.prelu.weight", "body.layer2.0.rprelu1.gamma", "body.layer2.0.rprelu2.beta",
                           "body.layer2.0.rprelu_out.zeta"}) {
    EXPECT_TRUE(params.contains(name)) << name;
  }
  EXPECT_FALSE(params.contains("body.layer2.0.rprelu3.gamma"));
  const auto features = backbone(torch::randn({1, 3, 64, 64}), torch::zeros({1, 64, 64}, torch::kBool));
  EXPECT_EQ(features.map.sizes(), (std::vector<int64_t>{1, 512, 2, 2}));
}
