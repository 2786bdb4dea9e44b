#include <lowbit/csrc/engine/build.h>

#include <lowbit/csrc/engine/checkpoint/checkpoint.h>
#include <lowbit/csrc/engine/checkpoint/load_state.h>
#include <lowbit/csrc/engine/checkpoint/state_dict.h>
#include <lowbit/modules/layers/batch_norm.h>
#include <lowbit/modules/models/registry.h>

namespace lowbit::engine {
namespace {

models::QuantPolicy policy_of(const ModelConfig& model, const QuantizerSpec& weight, const QuantizerSpec& input) {
  return {{weight.name, weight.params}, {input.name, input.params}, model.full_precision_ends};
}

const QuantizerSpec& weight_spec(const Recipe& recipe, size_t stage) {
  const auto& st = recipe.stages.at(stage);
  return st.weight_quantizer ? *st.weight_quantizer : recipe.model.weight_quantizer;
}

const QuantizerSpec& input_spec(const Recipe& recipe, size_t stage) {
  const auto& st = recipe.stages.at(stage);
  return st.input_quantizer ? *st.input_quantizer : recipe.model.input_quantizer;
}

// Runs `make` (a builder on `model` with these quantizers); an error of a quantizer spec points
// at that spec (or its option), any other at the model (or its option).
template <typename Make>
auto keyed(const Recipe& recipe, const ModelConfig& model, const QuantizerSpec& weight, const QuantizerSpec& input,
           Make&& make) -> decltype(make()) {
  try {
    return make();
  } catch (const OptionError& e) {
    const auto& key = e.key();
    for (const auto* spec : {&weight, &input}) {
      const auto& name = spec == &weight ? "weight_quantizer" : "input_quantizer";
      if (key.empty() || key.front() != name) continue;
      recipe.fail(spec->path, OptionError(std::vector<std::string>(key.begin() + 1, key.end()), e.msg(), e.detail()));
    }
    const auto at = key.empty() ? model.option_paths.end() : model.option_paths.find(key.front());
    recipe.fail(at == model.option_paths.end() ? model.path : at->second, e);
  } catch (const c10::Error& e) {
    recipe.fail(model.path, e);
  }
}

std::shared_ptr<Model> make(const Recipe& recipe, const Task& task, const ModelConfig& model, const QuantizerSpec& weight,
                            const QuantizerSpec& input) {
  auto built = keyed(recipe, model, weight, input,
                     [&] { return task.make_model(model.name, model.params, policy_of(model, weight, input)); });
  layers::set_ghost_batch(*built, model.bn_batch);
  return built;
}

// The model section as stage `stage` builds it: the stage's `model:` options over the section's.
// An error of such an option is reported at the stage's key.
ModelConfig stage_model(const Recipe& recipe, size_t stage) {
  const auto& st = recipe.stages.at(stage);
  auto model = recipe.model;
  for (const auto& [key, value] : st.model) {
    model.params[key] = value;
    model.option_paths[key] = st.path + ".model";
  }
  return model;
}

}  // namespace

torch::nn::Sequential build_network(const Recipe& recipe, size_t stage) {
  const auto& weight = weight_spec(recipe, stage);
  const auto& input = input_spec(recipe, stage);
  const auto model = stage_model(recipe, stage);
  return keyed(recipe, model, weight, input, [&] {
    return models::make(model.name, model.params, policy_of(model, weight, input));
  });
}

std::shared_ptr<Model> build_model(const Recipe& recipe, const Task& task, size_t stage) {
  return make(recipe, task, stage_model(recipe, stage), weight_spec(recipe, stage), input_spec(recipe, stage));
}

std::shared_ptr<Model> build_model(const Recipe& recipe, size_t stage) { return build_model(recipe, *build_task(recipe), stage); }

void load_weights(const Recipe& recipe, const CheckpointSource& source, torch::nn::Module& model) {
  const auto key = source.path + ".checkpoint";
  try {
    std::vector<Rename> rules;
    for (const auto& [pattern, replacement] : source.name_map.rules) rules.push_back({pattern, replacement});
    const auto tensors = source.format == "lowbit" ? read_checkpoint_model(source.checkpoint)
                                                   : read_pytorch_state_dict(source.checkpoint, source.entry).tensors;
    load_into(model, tensors, LoadOptions()
                                  .strict(source.strict)
                                  .renames(NameMap(rules))
                                  .keep(source.name_map.keep)
                                  .reshape(source.name_map.reshape)
                                  .source(source.checkpoint));
  } catch (const c10::Error& e) {
    recipe.fail(key, e.msg());
  }
}

std::shared_ptr<Model> build_initial_model(const Recipe& recipe, const Task& task, Weights weights) {
  auto model = build_model(recipe, task, 0);
  if (recipe.model.init && weights == Weights::Files) load_weights(recipe, *recipe.model.init, *model);
  return model;
}

std::shared_ptr<Model> build_initial_model(const Recipe& recipe) { return build_initial_model(recipe, *build_task(recipe)); }

std::shared_ptr<Model> build_teacher(const Recipe& recipe) { return build_teacher(recipe, *build_task(recipe)); }

std::shared_ptr<Model> build_teacher(const Recipe& recipe, const Task& task, Weights weights) {
  TORCH_CHECK(recipe.teacher.has_value(), "the recipe has no teacher");
  const auto& t = *recipe.teacher;
  auto teacher = make(recipe, task, t.model, t.model.weight_quantizer, t.model.input_quantizer);
  if (weights == Weights::Files) load_weights(recipe, t, *teacher);
  teacher->eval();
  for (auto& p : teacher->parameters()) p.set_requires_grad(false);
  return teacher;
}

std::shared_ptr<Task> build_task(const Recipe& recipe) {
  TaskSettings settings;
  settings.label_smoothing = recipe.train.label_smoothing;
  try {
    return make_task(recipe.task, settings);
  } catch (const c10::Error& e) {
    recipe.fail("task", e.msg());
  }
}

std::shared_ptr<Distiller> build_distiller(const Recipe& recipe, std::shared_ptr<Model> teacher) {
  TORCH_CHECK(recipe.distill.has_value(), "the recipe has no distill: section");
  try {
    return std::make_shared<Distiller>(recipe.distill->options(), std::move(teacher));
  } catch (const c10::Error& e) {
    recipe.fail("distill", e);
  }
}

std::shared_ptr<DataSet> build_dataset(const Recipe& recipe) {
  try {
    return make_dataset(recipe.data);
  } catch (const c10::Error& e) {
    recipe.fail("data", e);
  }
}

}  // namespace lowbit::engine
