#pragma once
// A training recipe: the typed, validated form of a YAML recipe (recipes/<method>/*.yaml,
// fragments in configs/). Every key is checked here, before anything runs or is written: an
// unknown key, a wrong type or an out-of-range value throws RecipeError as
//   recipe.yaml:14: stages[1].optimizer.lr: expected a positive number, got -0.1
// The named parts (task, data set, model, quantizers, optimizer, schedule, loss terms, metrics)
// come from registries, whose factories check their own options at parse time; their errors
// point at the option's key the same way.
// Stages run in order, each starting from the previous stage's weights (ReActNet's two steps,
// TerViT's 8-bit then ternary); a stage may change the quantizers of the model.

#include <lowbit/csrc/engine/datasets/dataset.h>
#include <lowbit/csrc/engine/metrics/metric.h>
#include <lowbit/csrc/engine/objective/distiller.h>
#include <lowbit/csrc/engine/optim/mixed_precision.h>
#include <lowbit/csrc/engine/optim/stage_options.h>
#include <lowbit/csrc/util/params.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace lowbit::engine {

// `{name: lsq, bits: 4}`; an empty name means full precision (identity).
struct QuantizerSpec {
  std::string name;
  Params params;
  std::string path;  // key path in the recipe, for messages
};

// How the names of another code base's state dict become lowbit's: renames (checkpoint/name_map.h)
// and what loading that layout allows (checkpoint/load_state.h LoadOptions).
struct NameMapSpec {
  std::vector<std::pair<std::string, std::string>> rules;  // (regex, replacement) in order; "" drops the key
  std::vector<std::string> keep;     // regexes of module names the file need not give (strict too)
  std::vector<std::string> reshape;  // regexes of module names whose value is viewed in the module's shape
};

// Weights to load into a model: a lowbit run's checkpoint.pt, or a PyTorch state dict saved by
// Python's torch.save (e.g. torchvision / timm weights), whose names `name_map` rewrites: a list
// of {pattern, replace} rules, or the path of a name-map file (configs/name_maps/: an official
// code base's layout; relative to the file that names it; read_name_map_file). The teacher's and
// the student's (`model.init`) share it and one loader (csrc/engine/build.h load_weights).
struct CheckpointSource {
  std::string checkpoint;
  std::string format = "lowbit";  // lowbit | pytorch
  std::string entry;              // pytorch: the dict entry holding the state dict ("" = find it)
  NameMapSpec name_map;
  bool strict = true;  // every parameter and buffer given, every (renamed) key used
  std::string path;    // key path of the section ("teacher", "model.init"), for messages
};

struct ModelConfig {
  std::string name;
  Params params;  // architecture options, read by the model's builder
  QuantizerSpec weight_quantizer, input_quantizer;
  bool full_precision_ends = true;  // first and last layer stay real-valued
  // `bn_batch`: training batch norm over chunks of this many samples (layers::BatchNorm's ghost
  // batches, as nn.DataParallel's per-replica shares); 0: the whole batch (of each process).
  int64_t bn_batch = 0;
  // The student's starting weights (`model.init`), loaded before the first stage of a fresh run
  // (a resumed run restores its checkpoint instead), e.g. the FP model a low-bit one fine-tunes.
  std::optional<CheckpointSource> init;
  std::string path = "model";
  // Options written elsewhere (a stage's `model:`) -> the path of the section they are in.
  std::map<std::string, std::string> option_paths;
};

struct StageConfig : StageOptions {
  std::optional<QuantizerSpec> weight_quantizer, input_quantizer;  // replace the model's for this stage
  // `stages[i].model`: model options replacing the model section's for this stage, e.g. Q-DETR's
  // stage 1 `model: {quantize: [backbone]}`.
  Params model;
  std::string path;  // "stages[i]", for messages
};

// A frozen, full-precision teacher for distillation: a model built like `model` and loaded from
// its `checkpoint` (CheckpointSource).
struct TeacherConfig : CheckpointSource {
  ModelConfig model;
};

// One term of the objective: `{loss: dgd, weight: 1.0, taps: '\.attn\.(q|k)$', squared: true}`;
// the keys other than loss, name and weight are the term's options (objective/loss_term.h).
struct DistillTermConfig {
  DistillTermOptions term{""};  // ce without label_smoothing gets train.label_smoothing
  std::string path;             // "distill.terms[i]", for messages
};

// The objective (against the recipe's teacher, when a term reads one): the weighted sum of the
// terms. Without it, training minimises the model's own loss (the label cross-entropy with
// train.label_smoothing).
struct DistillConfig {
  std::vector<DistillTermConfig> terms;
  std::vector<DistillTermOptions> options() const;
};

struct TrainConfig {
  double label_smoothing = 0;
  int64_t log_every = 50;         // steps between progress records
  int64_t checkpoint_every = 0;   // steps between checkpoints; 0: at the end of each epoch only
  int64_t eval_every = 1;         // epochs between evaluations (and always after a stage's last)
  Amp amp = Amp::Off;             // mixed precision (optim/mixed_precision.h)
  bool channels_last = false;     // NHWC model and images (faster convolutions on tensor cores)
};

// `distributed:`: how the processes of a data-parallel run (docs/distributed.md) keep in step;
// a run of one process ignores it.
struct DistributedConfig {
  std::string backend = "auto";  // auto (nccl on CUDA, gloo on CPU) | nccl | gloo
  bool sync_bn = false;          // batch norm with the whole batch's statistics (SyncBatchNorm)
  bool broadcast_buffers = true;  // rank 0's buffers before every step, as DDP
  bool find_unused_parameters = true;
  double bucket_mb = 25;          // gradient all-reduce bucket size
  int64_t timeout_s = 600;        // rendezvous and every collective
};

struct Recipe {
  std::string name;
  std::string file;
  std::string task = "classification";  // a registered task
  uint64_t seed = 0;
  std::string device = "cpu";  // cpu | cuda | cuda:N
  std::string output = "runs";  // the run directory is <output>/<name>
  DataSpec data;
  ModelConfig model;
  std::vector<StageConfig> stages;
  std::optional<TeacherConfig> teacher;
  std::optional<DistillConfig> distill;
  std::vector<MetricSpec> eval_metrics;  // eval.metrics; empty: the task's
  TrainConfig train;
  DistributedConfig distributed;
  std::string resolved_yaml;  // the merged recipe, saved with every run
  std::map<std::string, std::string> origins;

  // "file:line" of a key path, for errors found after parsing (e.g. by a model builder).
  std::string where(const std::string& path) const;
  // Throws RecipeError at `path`: "<where>: <path>: <detail>".
  [[noreturn]] void fail(const std::string& path, const std::string& detail) const;
  // `error` from the options written at `path` as a RecipeError there (recipe_error.h).
  [[noreturn]] void fail(const std::string& path, const c10::Error& error) const;
};

// A name-map file: a YAML mapping of
//   name_map: [{pattern: '^module\.', replace: ''}, ...]   the rules (required)
//   keep: ['\.weight_quantizer\.(k|t)$', ...]              NameMapSpec::keep
//   reshape: ['\.conv\.weight$', ...]                     NameMapSpec::reshape
// Errors name the file, line and key.
NameMapSpec read_name_map_file(const std::string& path);

// Loads, merges (includes, then `overrides` "a.b=c") and validates a recipe.
Recipe parse_recipe(const std::string& path, const std::vector<std::string>& overrides = {});

}  // namespace lowbit::engine
