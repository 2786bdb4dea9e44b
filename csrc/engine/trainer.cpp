#include <lowbit/csrc/engine/trainer.h>

#include <lowbit/csrc/engine/checkpoint.h>
#include <lowbit/csrc/engine/data_source.h>
#include <lowbit/csrc/engine/distill.h>
#include <lowbit/csrc/engine/grad_scaler.h>
#include <lowbit/csrc/engine/load_state.h>
#include <lowbit/csrc/engine/metrics_log.h>
#include <lowbit/csrc/engine/progress.h>
#include <lowbit/csrc/engine/optimizer.h>
#include <lowbit/csrc/engine/recipe_error.h>
#include <lowbit/csrc/engine/schedule.h>
#include <lowbit/csrc/util/files.h>
#include <lowbit/modules/hooks/training_hooks.h>
#include <lowbit/modules/models/registry.h>

#include <ATen/autocast_mode.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iomanip>
#include <optional>

namespace lowbit::engine {
namespace {

models::QuantizerChoice choice_of(const QuantizerSpec& spec) { return {spec.name, spec.params}; }

torch::Device device_of(const Recipe& recipe) {
  torch::Device device(recipe.device);
  if (device.is_cuda() && !torch::cuda::is_available()) {
    throw RecipeError(recipe.where("device") + ": device: '" + recipe.device + "' asked for, but no CUDA device is available");
  }
  return device;
}

// float16 autocast on CUDA for the forward pass while alive (train.amp).
class AutocastScope {
 public:
  explicit AutocastScope(bool enabled) : enabled_(enabled) {
    if (!enabled_) return;
    at::autocast::set_autocast_dtype(at::kCUDA, at::kHalf);
    at::autocast::set_autocast_enabled(at::kCUDA, true);
  }
  ~AutocastScope() {
    if (!enabled_) return;
    at::autocast::set_autocast_enabled(at::kCUDA, false);
    at::autocast::clear_cache();
  }

 private:
  bool enabled_;
};

struct Counts {
  double loss_sum = 0;
  int64_t top1 = 0, top5 = 0, samples = 0;
  void add(const torch::Tensor& logits, const torch::Tensor& labels, double loss) {
    const auto n = labels.size(0);
    loss_sum += loss * static_cast<double>(n);
    const auto k = std::min<int64_t>(5, logits.size(1));
    const auto top = std::get<1>(logits.topk(k, 1));
    const auto hits = top.eq(labels.unsqueeze(1));
    top1 += hits.select(1, 0).sum().item<int64_t>();
    top5 += hits.any(1).sum().item<int64_t>();
    samples += n;
  }
  EvalResult result() const {
    const double n = std::max<int64_t>(1, samples);
    return {loss_sum / n, 100.0 * top1 / n, 100.0 * top5 / n, samples};
  }
};

}  // namespace

void copy_matching(const torch::nn::Module& from, torch::nn::Module& to) {
  torch::NoGradGuard no_grad;
  // Submodules whose type changed (a stage's new quantizer) keep their fresh state, even where a
  // name and shape agree (lsq's and ternary's `initialized`).
  std::vector<std::string> replaced;
  const auto old_modules = from.named_modules();
  for (const auto& m : to.named_modules()) {
    const auto* old = old_modules.find(m.key());
    if (old && (*old)->name() != m.value()->name()) replaced.push_back(m.key() + ".");
  }
  const auto carried = [&](const std::string& key) {
    return std::none_of(replaced.begin(), replaced.end(), [&](const auto& p) { return key.rfind(p, 0) == 0; });
  };
  auto source = from.named_parameters();
  for (auto& p : to.named_parameters()) {
    const auto* s = source.find(p.key());
    if (s && s->sizes() == p.value().sizes() && carried(p.key())) p.value().copy_(*s);
  }
  auto source_buffers = from.named_buffers();
  for (auto& b : to.named_buffers()) {
    const auto* s = source_buffers.find(b.key());
    if (s && s->sizes() == b.value().sizes() && carried(b.key())) b.value().copy_(*s);
  }
}

namespace {

// Builds `model` with the given quantizers; errors point at the quantizer spec or option they
// come from, else at the model.
torch::nn::Sequential make_model(const Recipe& recipe, const ModelConfig& model, const QuantizerSpec& weight,
                                 const QuantizerSpec& input) {
  models::QuantPolicy policy{choice_of(weight), choice_of(input), model.full_precision_ends};
  try {
    return models::make(model.name, model.params, policy);
  } catch (const c10::Error& e) {
    std::string msg = e.msg(), path = model.path;
    for (const auto& [prefix, spec] : {std::pair{models::kWeightQuantizerError, &weight},
                                       std::pair{models::kInputQuantizerError, &input}}) {
      if (msg.rfind(prefix, 0) == 0) {
        msg = msg.substr(std::string(prefix).size());
        path = spec->path;
        for (const auto& option : spec->params) {  // the option the message names, if any
          if (msg.find(option.first) != std::string::npos) path = spec->path + "." + option.first;
        }
      }
    }
    if (msg.rfind("unknown model", 0) == 0 || msg.rfind("unknown quantizer", 0) == 0) path += ".name";
    throw RecipeError(recipe.where(path) + ": " + path + ": " + msg);
  }
}

}  // namespace

torch::nn::Sequential build_model(const Recipe& recipe, size_t stage) {
  const auto& st = recipe.stages.at(stage);
  return make_model(recipe, recipe.model, st.weight_quantizer ? *st.weight_quantizer : recipe.model.weight_quantizer,
                    st.input_quantizer ? *st.input_quantizer : recipe.model.input_quantizer);
}

void load_weights(const Recipe& recipe, const CheckpointSource& source, torch::nn::Module& model) {
  const auto key = source.path + ".checkpoint";
  try {
    std::vector<Rename> rules;
    for (const auto& [pattern, replacement] : source.name_map) rules.push_back({pattern, replacement});
    const auto tensors = source.format == "lowbit" ? read_checkpoint_model(source.checkpoint)
                                                   : read_pytorch_state_dict(source.checkpoint, source.entry).tensors;
    load_into(model, tensors, LoadOptions().strict(source.strict).renames(NameMap(rules)).source(source.checkpoint));
  } catch (const c10::Error& e) {
    throw RecipeError(recipe.where(key) + ": " + key + ": " + e.msg());
  }
}

torch::nn::Sequential build_initial_model(const Recipe& recipe) {
  auto model = build_model(recipe, 0);
  if (recipe.model.init) load_weights(recipe, *recipe.model.init, *model);
  return model;
}

torch::nn::Sequential build_teacher(const Recipe& recipe) {
  TORCH_CHECK(recipe.teacher.has_value(), "the recipe has no teacher");
  const auto& t = *recipe.teacher;
  auto teacher = make_model(recipe, t.model, t.model.weight_quantizer, t.model.input_quantizer);
  load_weights(recipe, t, *teacher);
  teacher->eval();
  for (auto& p : teacher->parameters()) p.set_requires_grad(false);
  return teacher;
}

namespace {

// One distilled step of every stage's model on two zero images: a term whose taps a model does
// not publish, or publishes in another shape, fails before the run starts.
void dry_run_distillation(const Recipe& recipe) {
  auto teacher = build_teacher(recipe);
  const losses::Distiller distiller(term_options(*recipe.distill));
  const auto images = example_images(recipe, 2);
  const auto labels = torch::zeros({2}, torch::kLong);
  torch::NoGradGuard no_grad;
  for (size_t s = 0; s < recipe.stages.size(); ++s) {
    auto student = build_model(recipe, s);
    student->eval();
    try {
      distiller.forward(student, teacher, images, labels);
    } catch (const c10::Error& e) {
      const auto place = locate_distill_error(*recipe.distill, e.msg());
      if (place.path == "distill") throw;  // not the distillation's fault
      throw RecipeError(recipe.where(place.path) + ": " + place.path + ": " + place.message +
                        (recipe.stages.size() > 1 ? " (stage " + std::to_string(s + 1) + ")" : ""));
    }
  }
}

}  // namespace

void validate(const Recipe& recipe) {
  if (recipe.train.amp && !device_of(recipe).is_cuda()) {
    throw RecipeError(recipe.where("train.amp") + ": train.amp: mixed precision needs device: cuda");
  }
  build_initial_model(recipe);
  for (size_t s = 1; s < recipe.stages.size(); ++s) build_model(recipe, s);
  if (recipe.distill) {
    dry_run_distillation(recipe);
  } else if (recipe.teacher) {
    build_teacher(recipe);
  }
  open_data(recipe, data::Split::Train);
  open_data(recipe, data::Split::Test);
}

EvalResult evaluate(torch::nn::Sequential& model, DataSource& test, const torch::Device& device) {
  torch::NoGradGuard no_grad;
  model->eval();
  Counts counts;
  auto reader = test.epoch(0, 0);
  Batch batch;
  while (reader->next(batch)) {
    const auto logits = model->forward(batch.images.to(device));
    const auto labels = batch.labels.to(device);
    counts.add(logits, labels, torch::nn::functional::cross_entropy(logits, labels).item<double>());
  }
  return counts.result();
}

TrainResult train(const Recipe& recipe, const std::string& run_dir, bool resume, std::ostream& out) {
  const auto device = device_of(recipe);
  const auto checkpoint = util::join_path(run_dir, "checkpoint.pt");
  auto train_data = open_data(recipe, data::Split::Train);
  auto test_data = open_data(recipe, data::Split::Test);
  const int64_t batches = train_data->batches_per_epoch();
  Position start = resume ? read_position(checkpoint) : Position{};
  MetricsLog log(run_dir, resume ? std::optional<int64_t>(start.step) : std::nullopt);
  Progress progress(out, ProgressOptions().style(progress_style_for(out)).line_every(recipe.train.log_every));
  TrainResult result;
  const auto started = std::chrono::steady_clock::now();

  // With distill:, the loss is the Distiller's weighted terms against the frozen teacher.
  torch::nn::Sequential teacher{nullptr};
  std::optional<losses::Distiller> distiller;
  if (recipe.distill) {
    teacher = build_teacher(recipe);
    teacher->to(device);
    distiller.emplace(term_options(*recipe.distill));
  }
  const auto term_names = distiller ? distiller->names() : std::vector<std::string>{};

  torch::manual_seed(recipe.seed);
  torch::nn::Sequential previous{nullptr};
  int64_t epochs_before = 0;  // data epochs of earlier stages, so every epoch has its own order
  for (size_t s = 0; s < recipe.stages.size(); ++s) {
    const auto& stage = recipe.stages[s];
    if (static_cast<int64_t>(s) < start.stage) {
      epochs_before += stage.epochs;
      continue;
    }
    // A fresh run starts from model.init; a resumed one from its checkpoint, loaded below.
    auto model = s == 0 && !resume ? build_initial_model(recipe) : build_model(recipe, s);
    if (previous) copy_matching(*previous, *model);
    model->to(device);
    auto built = make_optimizer(stage.optimizer, *model);
    GradScaler scaler(recipe.train.amp);
    Position p{static_cast<int64_t>(s), 0, 0, start.step};
    if (resume && static_cast<int64_t>(s) == start.stage) {
      Extras extras{{"scaler", scaler.state()}};
      p = load_checkpoint(checkpoint, *model, built.optimizer.get(), &extras);
      scaler.load_state(extras["scaler"]);
      out << "resumed " << checkpoint << " at stage " << p.stage + 1 << ", epoch " << p.epoch + 1 << ", batch "
          << p.batch << "\n";
    }
    for (; p.epoch < stage.epochs; ++p.epoch, p.batch = 0) {
      model->train();
      hooks::begin_epoch(*model, p.epoch, stage.epochs);
      auto reader = train_data->epoch(epochs_before + p.epoch, p.batch);
      progress.start_epoch(p.epoch + 1, stage.epochs, batches);
      Counts window;
      std::vector<double> window_terms(term_names.size());  // Σ term · batch size, like Counts' loss
      auto window_start = std::chrono::steady_clock::now();
      Batch batch;
      while (reader->next(batch)) {
        const double epochs_done = p.epoch + static_cast<double>(p.batch) / batches;
        set_lr_factor(built, lr_factor(stage.schedule, stage.optimizer.lr, epochs_done, stage.epochs));
        const auto images = batch.images.to(device), labels = batch.labels.to(device);
        torch::Tensor logits, loss;
        std::vector<torch::Tensor> shown;  // the loss, then its terms: copied to the host at once
        {
          AutocastScope autocast(recipe.train.amp);
          if (distiller) {
            auto r = distiller->forward(model, teacher, images, labels);
            logits = r.logits;
            loss = r.total;
            for (const auto& term : r.terms) shown.push_back(term.second.detach().to(torch::kFloat));
          } else {
            logits = model->forward(images);
            loss = torch::nn::functional::cross_entropy(
                logits, labels, torch::nn::functional::CrossEntropyFuncOptions().label_smoothing(recipe.train.label_smoothing));
          }
        }
        shown.insert(shown.begin(), loss.detach().to(torch::kFloat));
        built.optimizer->zero_grad();
        scaler.scale(loss).backward();
        if (stage.grad_clip > 0) {
          scaler.unscale(*built.optimizer);
          torch::nn::utils::clip_grad_norm_(model->parameters(), stage.grad_clip);
        }
        scaler.step(*built.optimizer);
        scaler.update();
        hooks::end_step(*model);
        const auto values = torch::stack(shown).to(torch::kCPU, torch::kDouble);
        const double loss_value = values[0].item<double>();
        std::vector<std::pair<std::string, double>> terms;
        for (size_t i = 0; i < term_names.size(); ++i) {
          terms.emplace_back(term_names[i], values[i + 1].item<double>());
          window_terms[i] += terms.back().second * static_cast<double>(labels.size(0));
        }
        window.add(logits.detach(), labels, loss_value);
        ++p.batch;
        ++p.step;
        const double lr = built.optimizer->param_groups()[0].options().get_lr();
        progress.step(p.batch, labels.size(0), loss_value, lr, std::move(terms));
        if (p.batch % recipe.train.log_every == 0 || p.batch == batches) {
          const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - window_start).count();
          const auto r = window.result();
          MetricsRecord record{"train", p.epoch, p.step, {{"loss", r.loss}}};
          for (size_t i = 0; i < term_names.size(); ++i) {
            record.values.emplace_back("loss_" + term_names[i], window_terms[i] / static_cast<double>(r.samples));
          }
          record.values.insert(record.values.end(), {{"top1", r.top1}, {"lr", lr}, {"images_per_s", r.samples / seconds}});
          log.write(record);
          window = Counts();
          std::fill(window_terms.begin(), window_terms.end(), 0.0);
          window_start = std::chrono::steady_clock::now();
        }
        if (recipe.train.checkpoint_every > 0 && p.step % recipe.train.checkpoint_every == 0) {
          save_checkpoint(checkpoint, *model, *built.optimizer, p, {{"scaler", scaler.state()}});
        }
      }
      progress.end_epoch();
      const auto eval = evaluate(model, *test_data, device);
      out << stage.name << " epoch " << p.epoch + 1 << "/" << stage.epochs << "  test loss " << std::setprecision(4)
          << eval.loss << "  top1 " << std::setprecision(2) << std::fixed << eval.top1 << "  top5 " << eval.top5
          << std::defaultfloat << std::endl;
      log.write({"eval", p.epoch, p.step, {{"loss", eval.loss}, {"top1", eval.top1}, {"top5", eval.top5}}});
      result.final_eval = eval;
      save_checkpoint(checkpoint, *model, *built.optimizer, Position{p.stage, p.epoch + 1, 0, p.step},
                      {{"scaler", scaler.state()}});
    }
    result.steps = p.step;
    result.model = model;
    start = Position{static_cast<int64_t>(s) + 1, 0, 0, p.step};
    resume = false;
    epochs_before += stage.epochs;
    previous = model;
  }
  result.teacher = teacher;
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return result;
}

}  // namespace lowbit::engine
