// A small binary network built from the installed package: forward, backward, one SGD step.
#include <lowbit/lowbit.h>

#include <iostream>

int main() {
  using namespace lowbit;
  torch::manual_seed(0);
  torch::nn::Sequential net(
      layers::QConv2d(layers::QConv2dOptions(1, 8, 3).padding(1)),  // real-valued first layer
      torch::nn::BatchNorm2d(8),
      layers::QConv2d(layers::QConv2dOptions(8, 8, 3)
                          .padding(1)
                          .weight_quantizer(quant::make("xnor"))
                          .input_quantizer(quant::make("sign", {{"ste", "approx"}}))),
      torch::nn::BatchNorm2d(8), torch::nn::Flatten(), torch::nn::Linear(8 * 8 * 8, 10));
  torch::optim::SGD sgd(net->parameters(), 0.1);
  const auto x = torch::randn({4, 1, 8, 8});
  const auto y = torch::randint(0, 10, {4});
  const auto loss = torch::nn::functional::cross_entropy(net->forward(x), y);
  loss.backward();
  auto binary = net[2]->as<layers::QConv2d>();
  const auto grad_norm = binary->weight.grad().norm().item<double>();
  const auto before = binary->weight.clone();
  sgd.step();
  const bool moved = !torch::equal(before, binary->weight);
  std::cout << "lowbit " << LOWBIT_VERSION << ": loss " << loss.item<double>() << ", binary conv grad norm "
            << grad_norm << (moved ? ", weights updated" : ", weights NOT updated") << "\n";
  return std::isfinite(loss.item<double>()) && grad_norm > 0 && moved ? 0 : 1;
}
