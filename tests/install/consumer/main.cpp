// An outside program using the installed lowbit package: a small binary network built by hand
// (forward, backward, one SGD step), exported to the packed format and run by the deploy runtime,
// then trained for an epoch by the engine's Runner on a data set of its own.
#include <lowbit/lowbit.h>

#include <iostream>
#include <sys/stat.h>

namespace {

using namespace lowbit;

torch::nn::Sequential binary_net() {
  return torch::nn::Sequential(
      layers::QConv2d(layers::QConv2dOptions(1, 8, 3).padding(1)),  // real-valued first layer
      torch::nn::BatchNorm2d(8),
      layers::QConv2d(layers::QConv2dOptions(8, 8, 3)
                          .padding(1)
                          .weight_quantizer(quant::make("xnor"))
                          .input_quantizer(quant::make("sign", {{"ste", "approx"}}))),
      torch::nn::BatchNorm2d(8), torch::nn::Flatten(), torch::nn::Linear(8 * 8 * 8, 10));
}

// 16 random 1 x 8 x 8 images with random labels, in batches of 4, in file order.
class RandomImages : public engine::DataSet {
 public:
  std::unique_ptr<engine::DataSource> open(data::Split) const override { return std::make_unique<Source>(); }
  engine::Batch example(int64_t count) const override { return {torch::zeros({count, 1, 8, 8}), torch::zeros({count}, torch::kLong)}; }

 private:
  struct Source : engine::DataSource {
    int64_t num_samples() const override { return 16; }
    int64_t batches_per_epoch() const override { return 4; }
    std::unique_ptr<engine::EpochReader> epoch(int64_t, int64_t first) override { return std::make_unique<Reader>(first); }
  };
  struct Reader : engine::EpochReader {
    explicit Reader(int64_t next) : next_batch(next) {}
    bool next(engine::Batch& batch) override {
      if (next_batch++ >= 4) return false;
      batch = {torch::randn({4, 1, 8, 8}), torch::randint(0, 10, {4})};
      return true;
    }
    int64_t next_batch;
  };
};

}  // namespace

int main() {
  torch::manual_seed(0);
  auto net = binary_net();
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

  net->eval();
  deploy::ModelInput input;
  input.channels = 1;
  input.height = input.width = 8;
  const auto model = deploy::Model::parse(deploy::serialize_lbm(deploy::export_network(*net, "binary_net", input)),
                                          "binary_net.lbm");
  const auto images = torch::randn({4, 1, 8, 8});
  const auto logits = net->forward(images).detach();
  const double deploy_diff = (model.forward(images) - logits).abs().max().item<double>();
  const bool deployed = deploy_diff <= 1e-4 * logits.abs().max().item<double>();

  ::mkdir("consumer-run", 0755);  // in the working directory the test gives it
  engine::RunnerOptions o;
  o.stages = {engine::StageOptions()};
  o.model = [](size_t, bool) { return std::make_shared<engine::Classifier>(binary_net()); };
  o.task = [] { return std::make_shared<engine::ClassificationTask>(); };
  o.data = std::make_shared<RandomImages>();
  o.run_dir = "consumer-run";
  const auto trained = engine::Runner(o).run();
  const bool ran = trained.steps == 4 && trained.final_eval.samples == 16;

  std::cout << "lowbit " << LOWBIT_VERSION << ": loss " << loss.item<double>() << ", binary conv grad norm "
            << grad_norm << (moved ? ", weights updated" : ", weights NOT updated") << "; deployed, max |diff| "
            << deploy_diff << "; Runner: " << trained.steps
            << " steps, test " << trained.task->describe(trained.final_eval.values) << "\n";
  return std::isfinite(loss.item<double>()) && grad_norm > 0 && moved && deployed && ran ? 0 : 1;
}
