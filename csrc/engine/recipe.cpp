#include <lowbit/csrc/engine/recipe.h>

#include <lowbit/csrc/engine/distill.h>
#include <lowbit/csrc/engine/recipe_error.h>
#include <lowbit/csrc/engine/recipe_reader.h>

#include <regex>
#include <set>

namespace lowbit::engine {
namespace {

// `{name: lsq, bits: 4}` or a bare name; "none" or "identity" mean full precision.
QuantizerSpec read_quantizer(Section& parent, const std::string& key) {
  QuantizerSpec spec;
  spec.path = parent.key_path(key);
  if (!parent.has(key)) return spec;
  auto section = parent.child(key);
  spec.name = section.require<std::string>("name");
  if (spec.name == "none") spec.name.clear();
  spec.params = section.rest();
  return spec;
}

DataConfig read_data(Section s) {
  DataConfig d;
  d.dataset = s.choice("dataset", "", {"fashion_mnist", "mnist", "cifar10", "cifar100", "imagenet"});
  d.root = s.get<std::string>("root", d.dataset == "fashion_mnist" ? "/usr/share/datasets/fashion-mnist" : "");
  if (d.root.empty()) s.fail("root", "missing: where the " + d.dataset + " files are (or --set data.root=...)");
  d.batch_size = s.positive_int("batch_size", d.batch_size);
  d.eval_batch_size = s.positive_int("eval_batch_size", d.eval_batch_size);
  d.workers = s.non_negative_int("workers", d.workers);
  d.limit_train = s.non_negative_int("limit_train", d.limit_train);
  d.limit_test = s.non_negative_int("limit_test", d.limit_test);
  d.image_size = s.positive_int("image_size", d.image_size);
  d.skip_corrupt = s.get<bool>("skip_corrupt", d.skip_corrupt);
  d.train_folder = s.get<std::string>("train_folder", d.train_folder);
  d.val_folder = s.get<std::string>("val_folder", d.val_folder);
  s.finish();
  return d;
}

// The keys of a CheckpointSource, read from `s` (the caller finishes it).
CheckpointSource read_checkpoint_source(Section& s) {
  CheckpointSource c;
  c.path = s.path();
  c.checkpoint = s.require<std::string>("checkpoint");
  c.format = s.choice("format", c.format, {"lowbit", "pytorch"});
  c.entry = s.get<std::string>("entry", "");
  if (!c.entry.empty() && c.format != "pytorch") s.fail("entry", "only a format: pytorch state dict has entries");
  for (auto& rule : s.children("name_map")) {
    c.name_map.emplace_back(rule.require<std::string>("pattern"), rule.get<std::string>("replace", ""));
    try {
      std::regex check(c.name_map.back().first);
    } catch (const std::regex_error& e) {
      rule.fail("pattern", "not a valid regular expression: " + std::string(e.what()));
    }
    rule.finish();
  }
  c.strict = s.get<bool>("strict", c.strict);
  return c;
}

// `student`: the recipe's model, which may have `init` (the teacher loads its own checkpoint).
ModelConfig read_model(Section s, bool student) {
  ModelConfig m;
  m.path = s.path();
  m.name = s.require<std::string>("name");
  if (s.has("init")) {
    if (!student) s.fail("init", "the teacher's weights are teacher.checkpoint; init is the student's (model.init)");
    auto init = s.child("init");
    m.init = read_checkpoint_source(init);
    init.finish();
  }
  m.weight_quantizer = read_quantizer(s, "weight_quantizer");
  m.input_quantizer = read_quantizer(s, "input_quantizer");
  m.full_precision_ends = s.get<bool>("full_precision_ends", true);
  m.params = s.rest();
  return m;
}

OptimizerConfig read_optimizer(Section s) {
  OptimizerConfig o;
  o.name = s.choice("name", o.name, {"sgd", "adam", "adamw"});
  o.lr = s.positive("lr", o.lr);
  o.momentum = s.non_negative("momentum", o.momentum);
  o.nesterov = s.get<bool>("nesterov", o.nesterov);
  o.weight_decay = s.non_negative("weight_decay", o.weight_decay);
  o.beta1 = s.non_negative("beta1", o.beta1);
  o.beta2 = s.non_negative("beta2", o.beta2);
  o.eps = s.positive("eps", o.eps);
  for (auto& g : s.children("groups")) {
    ParamGroupConfig group;
    group.pattern = g.require<std::string>("pattern");
    try {
      std::regex check(group.pattern);
    } catch (const std::regex_error& e) {
      g.fail("pattern", "not a valid regular expression: " + std::string(e.what()));
    }
    if (g.has("weight_decay")) group.weight_decay = g.non_negative("weight_decay", 0);
    group.lr_scale = g.non_negative("lr_scale", 1.0);
    g.finish();
    o.groups.push_back(group);
  }
  if (o.nesterov && o.name != "sgd") s.fail("nesterov", "only the sgd optimizer has Nesterov momentum");
  s.finish();
  return o;
}

ScheduleConfig read_schedule(Section s, int64_t epochs) {
  ScheduleConfig c;
  c.name = s.choice("name", c.name, {"constant", "cosine", "step", "linear"});
  c.per = s.choice("per", c.per, {"step", "epoch"});
  c.warmup_epochs = s.non_negative("warmup_epochs", c.warmup_epochs);
  c.min_lr = s.non_negative("min_lr", c.min_lr);
  c.milestones = s.get<std::vector<int64_t>>("milestones", {});
  c.gamma = s.positive("gamma", c.gamma);
  if (c.name == "step" && c.milestones.empty()) s.fail("milestones", "the step schedule needs milestones (epochs)");
  for (auto m : c.milestones) {
    if (m <= 0 || m > epochs) s.fail("milestones", "milestone " + std::to_string(m) + " is outside [1, " + std::to_string(epochs) + "]");
  }
  if (c.warmup_epochs > static_cast<double>(epochs)) s.fail("warmup_epochs", "longer than the stage's " + std::to_string(epochs) + " epochs");
  s.finish();
  return c;
}

StageConfig read_stage(Section s, size_t index) {
  StageConfig st;
  st.name = s.get<std::string>("name", "stage" + std::to_string(index + 1));
  st.epochs = s.positive_int("epochs", st.epochs);
  st.optimizer = read_optimizer(s.child("optimizer"));
  st.schedule = read_schedule(s.child("schedule"), st.epochs);
  st.grad_clip = s.non_negative("grad_clip", st.grad_clip);
  if (s.has("weight_quantizer")) st.weight_quantizer = read_quantizer(s, "weight_quantizer");
  if (s.has("input_quantizer")) st.input_quantizer = read_quantizer(s, "input_quantizer");
  s.finish();
  return st;
}

TeacherConfig read_teacher(Section s) {
  TeacherConfig t;
  if (!s.has("model")) s.fail("model", "missing (required)");
  t.model = read_model(s.child("model"), false);
  static_cast<CheckpointSource&>(t) = read_checkpoint_source(s);
  s.finish();
  return t;
}

// Terms are checked here by building the Distiller they describe; its errors point at the term's key.
DistillConfig read_distill(Section s, const RecipeTree& tree, double label_smoothing) {
  DistillConfig d;
  auto terms = s.children("terms");
  if (terms.empty()) s.fail("terms", "expected a non-empty list of loss terms, e.g. [{loss: distribution}]");
  std::set<std::string> names;  // unique before the Distiller sees them, so its errors name one term
  for (auto& t : terms) {
    DistillTermConfig term;
    term.path = t.path();
    term.loss = t.choice("loss", t.require<std::string>("loss"), losses::loss_kinds());
    term.name = t.get<std::string>("name", "");
    const auto& shown = term.name.empty() ? term.loss : term.name;
    if (!names.insert(shown).second) {
      t.fail(term.name.empty() ? "loss" : "name", "a second term named '" + shown + "'; give one of them another `name`");
    }
    term.weight = t.non_negative("weight", term.weight);
    term.taps = t.get<std::string>("taps", "");
    term.options = t.rest();
    if (term.loss == "ce" && !term.options.count("label_smoothing")) term.options["label_smoothing"] = label_smoothing;
    d.terms.push_back(term);
  }
  s.finish();
  try {
    losses::Distiller check(term_options(d));
  } catch (const c10::Error& e) {
    const auto place = locate_distill_error(d, e.msg());
    throw RecipeError(tree.where(place.path) + ": " + place.path + ": " + place.message);
  }
  return d;
}

TrainConfig read_train(Section s) {
  TrainConfig t;
  t.label_smoothing = s.non_negative("label_smoothing", t.label_smoothing);
  if (t.label_smoothing >= 1) s.fail("label_smoothing", "expected a number in [0, 1)");
  t.log_every = s.positive_int("log_every", t.log_every);
  t.checkpoint_every = s.non_negative_int("checkpoint_every", t.checkpoint_every);
  t.amp = s.get<bool>("amp", t.amp);
  t.deterministic = s.get<bool>("deterministic", t.deterministic);
  s.finish();
  return t;
}

}  // namespace

std::string Recipe::where(const std::string& path) const { return origin_of(origins, path, file); }

Recipe parse_recipe(const std::string& path, const std::vector<std::string>& overrides) {
  const auto tree = load_recipe_tree(path, overrides);
  Section root(tree, tree.root, "");
  Recipe r;
  r.file = path;
  r.name = root.require<std::string>("name");
  if (r.name.empty() || r.name.find('/') != std::string::npos) root.fail("name", "expected a name without '/'");
  r.seed = static_cast<uint64_t>(root.non_negative_int("seed", 0));
  r.device = root.get<std::string>("device", r.device);
  if (!std::regex_match(r.device, std::regex("cpu|cuda(:[0-9]+)?"))) {
    root.fail("device", "expected cpu, cuda or cuda:N, got '" + r.device + "'");
  }
  r.output = root.get<std::string>("output", r.output);
  if (!root.has("data")) root.fail("data", "missing (required)");
  r.data = read_data(root.child("data"));
  if (!root.has("model")) root.fail("model", "missing (required)");
  r.model = read_model(root.child("model"), true);
  const auto stages = root.children("stages");
  if (stages.empty()) root.fail("stages", "expected a non-empty list of training stages");
  for (size_t i = 0; i < stages.size(); ++i) r.stages.push_back(read_stage(stages[i], i));
  if (root.has("teacher")) r.teacher = read_teacher(root.child("teacher"));
  r.train = read_train(root.child("train"));
  if (root.has("distill")) {
    r.distill = read_distill(root.child("distill"), tree, r.train.label_smoothing);
    if (!r.teacher) root.fail("distill", "distillation needs a teacher: section (the frozen model to learn from)");
  }
  root.finish();
  YAML::Emitter out;
  out << tree.root;
  r.resolved_yaml = out.c_str();
  r.origins = tree.origins;
  return r;
}

}  // namespace lowbit::engine
