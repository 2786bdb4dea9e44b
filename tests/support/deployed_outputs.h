#pragma once
// The deploy tests' comparison: a deployed model's outputs against the eval-mode network's.

#include <lowbit/csrc/deploy/model.h>

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace lowbit::testing {

// model.forward(images) within `tolerance` (1e-4; 0: equal) of net's eval-mode outputs, relative to
// their largest magnitude.
inline void expect_deployed_outputs(torch::nn::Sequential net, const lowbit::deploy::Model& model,
                                    const torch::Tensor& images, double tolerance = 1e-4) {
  net->eval();
  torch::NoGradGuard no_grad;
  const auto expected = net->forward(images);
  const auto actual = model.forward(images);
  ASSERT_EQ(actual.sizes(), expected.sizes());
  const double scale = expected.abs().max().item<double>();
  EXPECT_GT(scale, 0.0);
  const double difference = (actual - expected).abs().max().item<double>();
  EXPECT_LE(difference, tolerance * scale) << "max |deploy - eval| " << difference << " at output scale " << scale;
}

}  // namespace lowbit::testing
