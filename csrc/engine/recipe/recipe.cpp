#include <lowbit/csrc/engine/recipe/recipe.h>

#include <lowbit/csrc/engine/recipe/recipe_error.h>
#include <lowbit/csrc/engine/recipe/recipe_reader.h>
#include <lowbit/csrc/engine/task/task.h>
#include <lowbit/csrc/util/files.h>
#include <lowbit/csrc/util/regex_check.h>

#include <regex>
#include <set>

namespace lowbit::engine {
namespace {

// Runs `check` (a registry's factory on options read from section `s`); its error points at the
// option's key inside `s`.
template <typename Check>
void checked(const RecipeTree& tree, const Section& s, Check&& check) {
  try {
    check();
  } catch (const c10::Error& e) {
    throw_at_key([&](const std::string& p) { return tree.where(p); }, s.path(), e);
  }
}

// A regex option: its syntax is checked here.
std::string read_regex(Section& s, const std::string& key) {
  auto pattern = s.require<std::string>(key);
  if (const auto problem = util::regex_problem(pattern); !problem.empty()) s.fail(key, problem);
  return pattern;
}

// `{name: lsq, bits: 4}`; the names "none" and "identity" mean full precision.
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

// More decoding threads than any machine runs usefully (a typo like 10000): an error, not a stall.
constexpr int64_t kMaxWorkers = 1024;

DataSpec read_data(const RecipeTree& tree, Section s, uint64_t seed) {
  DataSpec d;
  d.dataset = s.choice("dataset", "", registered_datasets());
  d.root = s.get<std::string>("root", "");
  d.batch_size = s.positive_int("batch_size", d.batch_size);
  d.eval_batch_size = s.positive_int("eval_batch_size", d.eval_batch_size);
  d.workers = s.non_negative_int("workers", d.workers);
  if (d.workers > kMaxWorkers) {
    s.fail("workers", "expected at most " + std::to_string(kMaxWorkers) + " decoding threads, got " + std::to_string(d.workers));
  }
  d.limit_train = s.non_negative_int("limit_train", d.limit_train);
  d.limit_test = s.non_negative_int("limit_test", d.limit_test);
  d.seed = seed;
  d.options = s.rest();
  checked(tree, s, [&] { make_dataset(d); });
  return d;
}

// The rules of the list `name_map` in `s`.
std::vector<std::pair<std::string, std::string>> read_name_map_rules(Section& s) {
  std::vector<std::pair<std::string, std::string>> rules;
  for (auto& rule : s.children("name_map")) {
    rules.emplace_back(read_regex(rule, "pattern"), rule.get<std::string>("replace", ""));
    rule.finish();
  }
  return rules;
}

// A list of regexes at `key` of `s` (absent: none).
std::vector<std::string> read_regex_list(Section& s, const std::string& key) {
  std::vector<std::string> patterns;
  if (!s.has(key)) return patterns;
  const auto list = s.require<std::vector<std::string>>(key);
  for (size_t i = 0; i < list.size(); ++i) {
    if (const auto problem = util::regex_problem(list[i]); !problem.empty()) s.fail(key + "[" + std::to_string(i) + "]", problem);
  }
  return list;
}

// The keys of a CheckpointSource, read from `s` (the caller finishes it). `name_map` is a list of
// rules or a name-map file's path.
CheckpointSource read_checkpoint_source(Section& s) {
  CheckpointSource c;
  c.path = s.path();
  c.checkpoint = s.require<std::string>("checkpoint");
  c.format = s.choice("format", c.format, {"lowbit", "pytorch"});
  c.entry = s.get<std::string>("entry", "");
  if (!c.entry.empty() && c.format != "pytorch") s.fail("entry", "only a format: pytorch state dict has entries");
  if (s.is_string("name_map")) {
    const auto file = s.require_path("name_map");
    if (!util::file_exists(file)) s.fail("name_map", file + ": name map file not found");
    c.name_map = read_name_map_file(file);
  } else {
    c.name_map.rules = read_name_map_rules(s);
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
  if (s.has("bn_batch") && !student) s.fail("bn_batch", "the teacher runs in eval mode: bn_batch is the student's");
  m.bn_batch = s.non_negative_int("bn_batch", m.bn_batch);
  m.params = s.rest();
  return m;
}

// `lr_per: B`: lr written for a batch of B, scaled to the recipe's whole batch (optimizer.h).
OptimizerConfig read_optimizer(const RecipeTree& tree, Section s, int64_t batch_size) {
  OptimizerConfig o;
  o.name = s.choice("name", o.name, registered_optimizers());
  o.lr = s.positive("lr", o.lr);
  if (s.has("lr_per")) o.lr *= static_cast<double>(batch_size) / static_cast<double>(s.positive_int("lr_per", 512));
  o.weight_decay = s.non_negative("weight_decay", o.weight_decay);
  for (auto& g : s.children("groups")) {
    ParamGroupConfig group;
    group.pattern = read_regex(g, "pattern");
    if (g.has("weight_decay")) group.weight_decay = g.non_negative("weight_decay", 0);
    group.lr_scale = g.non_negative("lr_scale", 1.0);
    g.finish();
    o.groups.push_back(group);
  }
  o.options = s.rest();
  checked(tree, s, [&] { make_optimizer_kind(o); });
  return o;
}

ScheduleConfig read_schedule(const RecipeTree& tree, Section s, int64_t epochs, double lr) {
  ScheduleConfig c;
  c.name = s.choice("name", c.name, registered_schedules());
  c.per = s.choice("per", c.per, {"step", "epoch"});
  c.warmup_epochs = s.non_negative("warmup_epochs", c.warmup_epochs);
  if (c.warmup_epochs > static_cast<double>(epochs)) {
    s.fail("warmup_epochs", "longer than the stage's " + std::to_string(epochs) + " epochs");
  }
  c.warmup_lr = s.non_negative("warmup_lr", c.warmup_lr);
  if (c.warmup_lr > 0 && c.warmup_epochs == 0) s.fail("warmup_lr", "a warm-up's start needs warmup_epochs > 0");
  c.warmup_prefix = s.get<bool>("warmup_prefix", c.warmup_prefix);
  c.epoch_offset = s.get<int64_t>("epoch_offset", c.epoch_offset);
  c.options = s.rest();
  checked(tree, s, [&] { Schedule(c, ScheduleSpan{lr, epochs, c.warmup_epochs}); });
  return c;
}

StageConfig read_stage(const RecipeTree& tree, Section s, size_t index, int64_t batch_size) {
  StageConfig st;
  st.name = s.get<std::string>("name", "stage" + std::to_string(index + 1));
  st.epochs = s.positive_int("epochs", st.epochs);
  st.optimizer = read_optimizer(tree, s.child("optimizer"), batch_size);
  st.schedule = read_schedule(tree, s.child("schedule"), st.epochs, st.optimizer.lr);
  st.grad_clip = s.non_negative("grad_clip", st.grad_clip);
  if (s.has("weight_quantizer")) st.weight_quantizer = read_quantizer(s, "weight_quantizer");
  if (s.has("input_quantizer")) st.input_quantizer = read_quantizer(s, "input_quantizer");
  if (s.has("model")) {
    auto model = s.child("model");
    if (model.has("name")) model.fail("name", "a stage changes the model's options, not the model");
    st.model = model.rest();
  }
  st.path = s.path();
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

// One term, checked by building it; returns whether it reads a teacher.
bool read_term(const RecipeTree& tree, Section& t, DistillTermConfig& term, std::set<std::string>& names,
               double label_smoothing) {
  term.path = t.path();
  auto& o = term.term;
  o.loss(t.choice("loss", t.require<std::string>("loss"), registered_loss_terms()));
  o.name(t.get<std::string>("name", ""));
  const auto& shown = o.name().empty() ? o.loss() : o.name();
  if (!names.insert(shown).second) {
    t.fail(o.name().empty() ? "loss" : "name", "a second term named '" + shown + "'; give one of them another `name`");
  }
  if (!std::regex_match(shown, std::regex("[A-Za-z0-9_]+"))) {
    t.fail("name", "expected letters, digits and '_' only (it names a logged metric)");
  }
  o.weight(t.non_negative("weight", o.weight()));
  auto options = t.rest();
  if (o.loss() == "ce" && !options.count("label_smoothing")) options["label_smoothing"] = label_smoothing;
  o.options(options);
  bool reads_teacher = false;
  checked(tree, t, [&] { reads_teacher = make_loss_term(o.loss(), o.options(), "distill term '" + shown + "'")->reads_teacher(); });
  return reads_teacher;
}

DistillConfig read_distill(const RecipeTree& tree, Section s, double label_smoothing, bool has_teacher) {
  DistillConfig d;
  auto terms = s.children("terms");
  if (terms.empty()) s.fail("terms", "expected a non-empty list of loss terms, e.g. [{loss: distribution}]");
  std::set<std::string> names;  // unique before the Distiller sees them, so that its errors name one term
  bool reads_teacher = false;
  for (auto& t : terms) {
    d.terms.emplace_back();
    reads_teacher |= read_term(tree, t, d.terms.back(), names, label_smoothing);
  }
  s.finish();
  if (reads_teacher && !has_teacher) s.fail("", "distillation needs a teacher: section (the frozen model to learn from)");
  return d;
}

std::vector<MetricSpec> read_eval(const RecipeTree& tree, Section s) {
  std::vector<MetricSpec> metrics;
  for (auto& m : s.children("metrics")) {
    MetricSpec spec{m.choice("name", m.require<std::string>("name"), registered_metrics()), {}};
    spec.options = m.rest();
    checked(tree, m, [&] { make_metric(spec.name, spec.options); });
    metrics.push_back(spec);
  }
  s.finish();
  return metrics;
}

TrainConfig read_train(Section s) {
  TrainConfig t;
  t.label_smoothing = s.non_negative("label_smoothing", t.label_smoothing);
  if (t.label_smoothing >= 1) s.fail("label_smoothing", "expected a number in [0, 1)");
  t.log_every = s.positive_int("log_every", t.log_every);
  t.checkpoint_every = s.non_negative_int("checkpoint_every", t.checkpoint_every);
  t.eval_every = s.positive_int("eval_every", t.eval_every);
  t.amp = parse_amp(s.choice("amp", to_string(t.amp), {"off", "fp16", "bf16", "false", "true"}));
  t.channels_last = s.get<bool>("channels_last", t.channels_last);
  s.finish();
  return t;
}

DistributedConfig read_distributed(Section s) {
  DistributedConfig d;
  d.backend = s.choice("backend", d.backend, {"auto", "nccl", "gloo"});
  d.sync_bn = s.get<bool>("sync_bn", d.sync_bn);
  d.broadcast_buffers = s.get<bool>("broadcast_buffers", d.broadcast_buffers);
  d.find_unused_parameters = s.get<bool>("find_unused_parameters", d.find_unused_parameters);
  d.bucket_mb = s.positive("bucket_mb", d.bucket_mb);
  d.timeout_s = s.positive_int("timeout_s", d.timeout_s);
  s.finish();
  return d;
}

void read_top(Section& root, Recipe& r) {
  r.name = root.require<std::string>("name");
  if (r.name.empty() || r.name.find('/') != std::string::npos) root.fail("name", "expected a name without '/'");
  r.task = root.choice("task", r.task, registered_tasks());
  r.seed = static_cast<uint64_t>(root.non_negative_int("seed", 0));
  r.device = root.get<std::string>("device", r.device);
  if (!std::regex_match(r.device, std::regex("cpu|cuda(:[0-9]+)?"))) {
    root.fail("device", "expected cpu, cuda or cuda:N, got '" + r.device + "'");
  }
  r.output = root.get<std::string>("output", r.output);
}

}  // namespace

std::vector<DistillTermOptions> DistillConfig::options() const {
  std::vector<DistillTermOptions> options;
  for (const auto& t : terms) options.push_back(t.term);
  return options;
}

std::string Recipe::where(const std::string& path) const { return origin_of(origins, path, file); }

void Recipe::fail(const std::string& path, const std::string& detail) const { throw RecipeError(where(path), path, detail); }

void Recipe::fail(const std::string& path, const c10::Error& error) const {
  throw_at_key([this](const std::string& p) { return where(p); }, path, error);
}

NameMapSpec read_name_map_file(const std::string& path) {
  const auto tree = load_recipe_tree(path);
  Section root(tree, tree.root, "");
  if (!root.has("name_map")) root.fail("name_map", "missing (required): a name map file holds name_map: [{pattern, replace}, ...]");
  NameMapSpec spec{read_name_map_rules(root), read_regex_list(root, "keep"), read_regex_list(root, "reshape")};
  root.finish();
  return spec;
}

Recipe parse_recipe(const std::string& path, const std::vector<std::string>& overrides) {
  const auto tree = load_recipe_tree(path, overrides);
  Section root(tree, tree.root, "");
  Recipe r;
  r.file = path;
  read_top(root, r);
  if (!root.has("data")) root.fail("data", "missing (required)");
  r.data = read_data(tree, root.child("data"), r.seed);
  if (!root.has("model")) root.fail("model", "missing (required)");
  r.model = read_model(root.child("model"), true);
  const auto stages = root.children("stages");
  if (stages.empty()) root.fail("stages", "expected a non-empty list of training stages");
  for (size_t i = 0; i < stages.size(); ++i) r.stages.push_back(read_stage(tree, stages[i], i, r.data.batch_size));
  if (root.has("teacher")) r.teacher = read_teacher(root.child("teacher"));
  r.train = read_train(root.child("train"));
  r.distributed = read_distributed(root.child("distributed"));
  if (r.distributed.sync_bn && r.model.bn_batch > 0) {
    root.child("model").fail("bn_batch", "ghost batches and distributed.sync_bn exclude each other");
  }
  if (root.has("distill")) {
    r.distill = read_distill(tree, root.child("distill"), r.train.label_smoothing, r.teacher.has_value());
  }
  if (root.has("eval")) r.eval_metrics = read_eval(tree, root.child("eval"));
  root.finish();
  YAML::Emitter out;
  out << tree.root;
  r.resolved_yaml = out.c_str();
  r.origins = tree.origins;
  return r;
}

}  // namespace lowbit::engine
