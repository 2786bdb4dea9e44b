#pragma once
// A training recipe: the typed, validated form of a YAML recipe (recipes/<method>/*.yaml,
// fragments in configs/). Every key is checked here, before anything runs or is written: an
// unknown key, a wrong type or an out-of-range value throws RecipeError as
//   recipe.yaml:14: stages[1].optimizer.lr: expected a positive number, got -0.1
// Stages run in order, each starting from the previous stage's weights (ReActNet's two steps,
// TerViT's 8-bit then ternary); a stage may change the quantizers of the model.

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

struct DataConfig {
  std::string dataset;  // fashion_mnist | mnist | cifar10 | cifar100 | imagenet
  std::string root;
  int64_t batch_size = 128;
  int64_t eval_batch_size = 1000;
  int64_t workers = 2;
  int64_t limit_train = 0;  // use only the first N training images (0: all)
  int64_t limit_test = 0;
  int64_t image_size = 224;  // imagenet crops
  std::string train_folder = "train", val_folder = "val";  // imagenet: class folders under root
  bool skip_corrupt = false;
};

// Weights to load into a model: a lowbit run's checkpoint.pt, or a PyTorch state dict saved by
// Python's torch.save (e.g. torchvision / timm weights), whose names `name_map` rewrites (regex ->
// replacement, in order; "" drops the key). The teacher's and the student's (`model.init`) share
// it and one loader (csrc/engine/trainer.h load_weights).
struct CheckpointSource {
  std::string checkpoint;
  std::string format = "lowbit";  // lowbit | pytorch
  std::string entry;              // pytorch: the dict entry holding the state dict ("" = find it)
  std::vector<std::pair<std::string, std::string>> name_map;
  bool strict = true;  // every parameter and buffer given, every (renamed) key used
  std::string path;    // key path of the section ("teacher", "model.init"), for messages
};

struct ModelConfig {
  std::string name;
  Params params;  // architecture options, read by the model's builder
  QuantizerSpec weight_quantizer, input_quantizer;
  bool full_precision_ends = true;  // first and last layer stay real-valued
  // The student's starting weights (`model.init`), loaded before the first stage of a fresh run
  // (a resumed run restores its checkpoint instead), e.g. the FP model a low-bit one fine-tunes.
  std::optional<CheckpointSource> init;
  std::string path = "model";
};

struct ParamGroupConfig {
  std::string pattern;  // ECMAScript regex on parameter names
  std::optional<double> weight_decay;
  double lr_scale = 1.0;
};

struct OptimizerConfig {
  std::string name = "adam";  // sgd | adam | adamw
  double lr = 1e-3;
  double momentum = 0.9;
  bool nesterov = false;
  double weight_decay = 0.0;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  std::vector<ParamGroupConfig> groups;
};

struct ScheduleConfig {
  std::string name = "constant";  // constant | cosine | step | linear
  std::string per = "step";       // step | epoch: how often the learning rate changes
  double warmup_epochs = 0;
  double min_lr = 0;                // cosine, linear: the final learning rate
  std::vector<int64_t> milestones;  // step: epochs at which lr *= gamma
  double gamma = 0.1;
};

struct StageConfig {
  std::string name;
  int64_t epochs = 1;
  OptimizerConfig optimizer;
  ScheduleConfig schedule;
  double grad_clip = 0;  // max global L2 norm; 0: off
  std::optional<QuantizerSpec> weight_quantizer, input_quantizer;  // replace the model's for this stage
};

// A frozen, full-precision teacher for distillation: a model built like `model` and loaded from
// its `checkpoint` (CheckpointSource).
struct TeacherConfig : CheckpointSource {
  ModelConfig model;
};

// One term of a distilled objective: `{loss: dgd, weight: 1.0, taps: '\.attn\.(q|k)$', squared: true}`;
// the keys other than loss, name, weight and taps are the loss's options (modules/losses/distiller.h).
struct DistillTermConfig {
  std::string loss;
  std::string name;  // as logged; "" = the loss
  double weight = 1.0;
  std::string taps;  // "" = the loss's default
  Params options;    // ce without label_smoothing gets train.label_smoothing
  std::string path;  // "distill.terms[i]", for messages
};

// The objective against the recipe's teacher (required with it): the weighted sum of the terms.
// Without it, training minimises the label cross-entropy (with train.label_smoothing).
struct DistillConfig {
  std::vector<DistillTermConfig> terms;
};

struct TrainConfig {
  double label_smoothing = 0;
  int64_t log_every = 50;         // steps between progress records
  int64_t checkpoint_every = 0;   // steps between checkpoints; 0: at the end of each epoch only
  bool amp = false;               // mixed precision on CUDA
  bool deterministic = true;
};

struct Recipe {
  std::string name;
  std::string file;
  uint64_t seed = 0;
  std::string device = "cpu";  // cpu | cuda | cuda:N
  std::string output = "runs";  // the run directory is <output>/<name>
  DataConfig data;
  ModelConfig model;
  std::vector<StageConfig> stages;
  std::optional<TeacherConfig> teacher;
  std::optional<DistillConfig> distill;
  TrainConfig train;
  std::string resolved_yaml;  // the merged recipe, saved with every run
  std::map<std::string, std::string> origins;

  // "file:line" of a key path, for errors found after parsing (e.g. by a model builder).
  std::string where(const std::string& path) const;
};

// Loads, merges (includes, then `overrides` "a.b=c") and validates a recipe.
Recipe parse_recipe(const std::string& path, const std::vector<std::string>& overrides = {});

}  // namespace lowbit::engine
