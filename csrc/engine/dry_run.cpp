#include <lowbit/csrc/engine/dry_run.h>

#include <lowbit/csrc/engine/datasets/random_data.h>
#include <lowbit/csrc/engine/recipe/recipe_error.h>
#include <lowbit/csrc/engine/train.h>

#include <torch/utils.h>

#include <chrono>
#include <cmath>
#include <iomanip>

namespace lowbit::engine {
namespace {

// The width of stage 1's "logits" on one example: the classes random labels are drawn from; 0
// where the data set has no labels (detection) or the model no such output.
int64_t logit_classes(const Recipe& recipe, const DataSet& data) {
  const auto example = data.example(1);
  if (!example.labels.defined()) return 0;
  auto model = build_model(recipe, 0);
  model->eval();
  torch::NoGradGuard no_grad;
  const auto outputs = model->forward(example);
  const auto logits = outputs.find("logits");
  return logits == outputs.end() ? 0 : logits->second.size(-1);
}

// One line per stage, after its evaluation; a loss that is not finite is an error.
class DryRunReport : public Hook {
 public:
  DryRunReport(std::ostream& out, size_t stages, int64_t images) : out_(out), stages_(stages), images_(images) {}

  void before_epoch(TrainState& s) override {
    started_ = std::chrono::steady_clock::now();
    steps_ = 0;
    stage_ = static_cast<size_t>(s.position.stage);
    where_ = "stage " + std::to_string(s.position.stage + 1) + "/" + std::to_string(stages_) + " " + s.stage_name;
  }

  void after_step(TrainState&, const Batch&, const StepOutput& step) override {
    loss_ = step.loss.item<double>();
    ++steps_;
    TORCH_CHECK(std::isfinite(loss_), "the loss is ", loss_, " at step ", steps_);
  }

  void after_epoch(TrainState& s) override {
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
    done_.push_back({s.stage_name, loss_, seconds});
    out_ << "dry run: " << where_ << ": loss " << std::fixed << std::setprecision(4) << loss_ << " (" << steps_
         << " steps of " << images_ << " images + 1 test batch, " << std::setprecision(2) << seconds << " s)\n"
         << std::defaultfloat;
    where_ = "after " + where_;
  }

  const std::vector<DryRunStage>& done() const { return done_; }
  const std::string& where() const { return where_; }
  size_t stage() const { return stage_; }  // the last one started

 private:
  std::ostream& out_;
  size_t stages_;
  int64_t images_;
  std::chrono::steady_clock::time_point started_;
  int64_t steps_ = 0;
  size_t stage_ = 0;
  double loss_ = 0;
  std::string where_ = "before stage 1";
  std::vector<DryRunStage> done_;
};

}  // namespace

std::vector<DryRunStage> dry_run(const Recipe& recipe, std::ostream& out, const DryRunOptions& options) {
  TORCH_CHECK_VALUE(options.batch_size() > 0 && options.steps() > 0, "dry run: batch_size and steps must be positive");
  const std::shared_ptr<const DataSet> shape = build_dataset(recipe);
  check_device(recipe);
  const auto images = std::min(options.batch_size(), recipe.data.batch_size);
  auto random = RandomDataOptions().batch_size(images).train_batches(options.steps()).image_size(options.image_size());
  random.seed(recipe.seed);
  random.classes(logit_classes(recipe, *random_data(shape, random)));

  std::ostream silent(nullptr);
  auto o = runner_options(recipe, "", false, silent, nullptr, Weights::Random);
  o.data = random_data(shape, random);
  o.write = false;
  o.stage_epochs = 1;
  const auto report = std::make_shared<DryRunReport>(out, recipe.stages.size(), images);
  o.hooks.push_back(report);
  // The Runner builds what validate() checks (train.h check_models), from the same functions, so
  // its errors are at their keys too; a loss term's is at distill: as validate() reports it.
  try {
    Runner(std::move(o)).run();
  } catch (const OptionError& e) {
    if (!recipe.distill) throw RecipeError(recipe.file + ": dry run, " + report->where() + ": " + e.msg());
    fail_at_distill(recipe, e, report->stage());
  } catch (const c10::Error& e) {
    throw RecipeError(recipe.file + ": dry run, " + report->where() + ": " + e.msg());
  }
  return report->done();
}

}  // namespace lowbit::engine
