// The lowbit command line: train (or check a recipe with train --dry-run), eval, summary, quantizers,
// cocoeval, export, infer. Errors in what was asked (recipe, override, data path, cocoeval's files) print one
// message and exit with status 2 before anything is written.
#include <lowbit/csrc/deploy/export.h>
#include <lowbit/csrc/deploy/model.h>
#include <lowbit/csrc/engine/build.h>
#include <lowbit/csrc/engine/task/classifier.h>
#include <lowbit/csrc/engine/checkpoint/checkpoint.h>
#include <lowbit/csrc/engine/dist/launch.h>
#include <lowbit/csrc/engine/dry_run.h>
#include <lowbit/csrc/engine/exit_status.h>
#include <lowbit/csrc/engine/dist/process_group.h>
#include <lowbit/csrc/engine/loop/eval_loop.h>
#include <lowbit/csrc/engine/recipe/recipe.h>
#include <lowbit/csrc/engine/recipe/recipe_error.h>
#include <lowbit/csrc/engine/summary.h>
#include <lowbit/csrc/engine/train.h>
#include <lowbit/csrc/eval/coco_eval.h>
#include <lowbit/csrc/eval/coco_json.h>
#include <lowbit/csrc/util/files.h>
#include <lowbit/csrc/util/heap.h>
#include <lowbit/csrc/util/input_error.h>
#include <lowbit/lowbit.h>

#include <CLI/CLI.hpp>

#include <sys/stat.h>

#include <iomanip>
#include <iostream>
#include <sstream>

namespace {

namespace engine = lowbit::engine;

std::string version_text() {
  std::string text = "lowbit " LOWBIT_VERSION " (LibTorch " + std::to_string(TORCH_VERSION_MAJOR) + "." +
                     std::to_string(TORCH_VERSION_MINOR) + "." + std::to_string(TORCH_VERSION_PATCH) + ", CUDA kernels ";
  text += lowbit::built_with_cuda() ? "built" : "not built";
  text += torch::cuda::is_available() ? ", CUDA device available)" : ", no CUDA device)";
  return text;
}

// <output>/<name>, or <output>/<name>-2, -3, ... when taken; created with its parents.
std::string new_run_dir(const engine::Recipe& recipe) {
  ::mkdir(recipe.output.c_str(), 0755);
  const auto base = lowbit::util::join_path(recipe.output, recipe.name);
  for (int i = 1;; ++i) {
    const auto dir = i == 1 ? base : base + "-" + std::to_string(i);
    if (::mkdir(dir.c_str(), 0755) == 0) return dir;
    if (errno != EEXIST) throw engine::RecipeError(dir + ": cannot create the run directory (" + std::strerror(errno) + ")");
  }
}

struct TrainArgs {
  std::string recipe = LOWBIT_DEFAULT_RECIPE;
  std::vector<std::string> overrides;
  std::string resume;
  int64_t nproc = 0;        // > 0: start that many processes on this machine (dist/launch.h)
  int64_t master_port = 0;  // with --nproc; 0: a free one
  bool dry_run = false;     // engine/dry_run.h: a few steps per stage on random inputs, nothing written
  int64_t image_size = 0;   // with --dry-run; 0: the recipe's
};

// `lowbit train` again, as each of --nproc processes.
int launch_train(const TrainArgs& args) {
  std::vector<std::string> argv{"train"};
  if (args.resume.empty()) argv.push_back(args.recipe);
  if (!args.overrides.empty()) argv.push_back("--set");
  argv.insert(argv.end(), args.overrides.begin(), args.overrides.end());
  if (!args.resume.empty()) argv.insert(argv.end(), {"--resume", args.resume});
  return engine::dist::launch_local("/proc/self/exe", argv, {args.nproc, args.master_port});
}

// Rank 0 creates the run directory (or resumes the one given) and tells the others its name.
std::string run_dir_of(const TrainArgs& args, const engine::Recipe& recipe, engine::dist::ProcessGroup* group) {
  if (!args.resume.empty()) return args.resume;
  std::string dir;
  if (!group || group->rank() == 0) {
    dir = new_run_dir(recipe);
    std::ofstream(lowbit::util::join_path(dir, "recipe.yaml")) << recipe.resolved_yaml << "\n";
  }
  return group ? group->share("run_dir", dir) : dir;
}

int run_dry_run(const TrainArgs& args) {
  const auto recipe = engine::parse_recipe(args.recipe, args.overrides);
  std::cout << "lowbit: dry run of " << recipe.name << " (random inputs and weights, nothing written)\n";
  engine::dry_run(recipe, std::cout, engine::DryRunOptions().image_size(args.image_size));
  std::cout << "lowbit: dry run passed\n";
  return 0;
}

int run_train(const TrainArgs& args) {
  if (args.dry_run) return run_dry_run(args);
  if (args.nproc > 0) return launch_train(args);
  const bool resume = !args.resume.empty();
  if (resume && !args.overrides.empty()) {
    throw engine::RecipeError("--resume continues a run exactly as recorded in its recipe.yaml; drop the --set options");
  }
  const auto recipe_path = resume ? lowbit::util::join_path(args.resume, "recipe.yaml") : args.recipe;
  const auto recipe = engine::parse_recipe(recipe_path, args.overrides);
  // Joined before the checks, so that a process failing them stops the others at once.
  const auto group = engine::join_group(recipe, engine::dist::read_environment());
  const bool writer = !group || group->rank() == 0;
  engine::validate(recipe);
  if (resume) engine::read_position(lowbit::util::join_path(args.resume, "checkpoint.pt"));
  const auto run_dir = run_dir_of(args, recipe, group.get());
  std::ostream silent(nullptr);  // ranks other than 0 print only their errors
  std::ostream& out = writer ? std::cout : silent;
  out << "lowbit: training " << recipe.name << " in " << run_dir
      << (group ? " on " + std::to_string(group->world_size()) + " processes (" + group->backend() + ")" : "") << "\n";
  engine::TrainResult result;
  try {
    result = engine::train(recipe, run_dir, resume, out, group);
  } catch (...) {
    // A fresh run stopped before its first checkpoint has nothing to resume: leave no folder.
    if (writer && !resume && !lowbit::util::file_exists(lowbit::util::join_path(run_dir, "checkpoint.pt"))) {
      lowbit::util::remove_tree(run_dir);
    }
    throw;
  }
  out << "lowbit: done in " << static_cast<int64_t>(result.seconds) << " s, " << result.steps << " steps; ";
  out << engine::test_report(result.task->describe(result.final_eval.values), result.final_eval.samples) << "\n";
  return 0;
}

// The model of a run's checkpoint, or without one the recipe's model.init (e.g. an official
// checkpoint through its name map, configs/name_maps/) in the model of the recipe's last stage.
std::shared_ptr<engine::Model> eval_model(const engine::Recipe& recipe, const std::string& checkpoint,
                                          const std::string& command) {
  const auto task = engine::build_task(recipe);
  if (checkpoint.empty()) {
    if (!recipe.model.init) {
      throw engine::RecipeError(recipe.file + ": " + command + " needs --checkpoint or the recipe's model.init");
    }
    auto model = engine::build_model(recipe, *task, recipe.stages.size() - 1);
    engine::load_weights(recipe, *recipe.model.init, *model);
    return model;
  }
  const auto stage = engine::read_position(checkpoint).stage;
  auto model = engine::build_model(recipe, *task, std::min<size_t>(stage, recipe.stages.size() - 1));
  engine::load_checkpoint(checkpoint, *model, nullptr);
  return model;
}

int run_eval(const std::string& recipe_path, const std::vector<std::string>& overrides, const std::string& checkpoint) {
  const auto recipe = engine::parse_recipe(recipe_path, overrides);
  // The weights are read below, the checkpoint's or model.init into the last stage's model: validate()
  // checks with random ones (its own would read model.init into the first stage's model, and the
  // teacher's file, which evaluating a checkpoint needs neither of).
  engine::validate(recipe, engine::Weights::Random);
  const auto task = engine::build_task(recipe);
  auto model = eval_model(recipe, checkpoint, "eval");
  const auto device = engine::device_of(recipe);
  model->to(device);
  auto test = engine::build_dataset(recipe)->open(lowbit::data::Split::Test);
  const auto metrics = recipe.eval_metrics.empty() ? task->default_metrics() : recipe.eval_metrics;
  const auto r = engine::EvalLoop(*test, engine::make_metrics(metrics), device).run(*model);
  std::cout << engine::test_report(task->describe(r.values), r.samples) << "\n";
  return 0;
}

int run_summary(const std::string& recipe_path, const std::vector<std::string>& overrides) {
  const auto recipe = engine::parse_recipe(recipe_path, overrides);
  if (recipe.task != "classification" && recipe.task != "detection") {
    recipe.fail("task", recipe.task + ": `lowbit summary` lays out classification networks and detectors only");
  }
  const auto example = engine::build_dataset(recipe)->example(1);
  for (size_t s = 0; s < recipe.stages.size(); ++s) {
    std::cout << recipe.name << ", stage " << s + 1 << " (" << recipe.stages[s].name << ")";
    if (recipe.task == "classification") {
      auto network = engine::build_network(recipe, s);
      std::cout << "\n";
      engine::print_summary(engine::summarize(network, example.images), std::cout);
      continue;
    }
    // A detector: its prediction on one image of the evaluation size (random weights: the RPN's
    // proposals fill its test budget, as a trained model's do on a real image).
    const auto task = engine::build_task(recipe);
    const auto model = engine::build_model(recipe, *task, s);
    std::cout << ", one " << example.images.size(2) << "x" << example.images.size(3) << " image\n";
    engine::print_summary(engine::summarize(*model, [&] { model->predict(example); }), std::cout);
  }
  return 0;
}

CLI::App* add_train(CLI::App& app, TrainArgs& args) {
  auto* train = app.add_subcommand("train", "Train a recipe (default: the Fashion-MNIST binary CNN)");
  train->add_option("recipe", args.recipe, "recipe YAML")->capture_default_str();
  train->add_option("--set", args.overrides, "override a recipe key: --set data.root=/data")->take_all();
  train->add_option("--resume", args.resume, "continue the run in this directory from its checkpoint");
  train->add_option("--nproc", args.nproc, "start N data-parallel processes on this machine (docs/distributed.md)")
      ->check(CLI::PositiveNumber);
  train->add_option("--master-port", args.master_port, "with --nproc: the rendezvous port (default: a free one)")
      ->check(CLI::Range(1, 65535));
  auto* dry_run = train->add_flag("--dry-run", args.dry_run,
                                  "check the recipe: two training steps per stage on random inputs, without the data, "
                                  "checkpoints or run directory");
  dry_run->excludes("--resume")->excludes("--nproc");
  train->add_option("--image-size", args.image_size,
                    "with --dry-run: square random images of this side (detectors take any size)")
      ->check(CLI::PositiveNumber)
      ->needs(dry_run);
  return train;
}

struct ExportArgs {
  std::string recipe, checkpoint, output;
  std::vector<std::string> overrides;
};

CLI::App* add_export(CLI::App& app, ExportArgs& args) {
  auto* command = app.add_subcommand("export", "Write a trained classifier as a packed .lbm model (docs/export.md)");
  command->add_option("recipe", args.recipe, "recipe YAML")->required();
  command->add_option("--checkpoint", args.checkpoint,
                      "checkpoint.pt of a run (default: the recipe's model.init in its last stage's model)");
  command->add_option("-o,--output", args.output, "the .lbm file to write")->required();
  command->add_option("--set", args.overrides, "override a recipe key")->take_all();
  return command;
}

// Bad model files and networks the deploy runtime cannot run are mistakes in what was asked (status 2).
template <typename Command>
int deploy_command(Command&& command) {
  try {
    return command();
  } catch (const lowbit::deploy::LbmError& e) {
    throw lowbit::InputError(e.what());
  } catch (const std::invalid_argument& e) {
    throw lowbit::InputError(e.what());
  }
}

// "4.08 MiB", "141.2 KiB".
std::string size_text(int64_t bytes) {
  std::ostringstream s;
  s << std::fixed << std::setprecision(bytes >= 1048576 ? 2 : 1);
  if (bytes >= 1048576) s << bytes / 1048576.0 << " MiB";
  else s << bytes / 1024.0 << " KiB";
  return s.str();
}

int run_export(const ExportArgs& args) {
  const auto slash = args.output.find_last_of('/');
  const auto folder = slash == std::string::npos ? std::string(".") : args.output.substr(0, std::max<size_t>(slash, 1));
  if (!lowbit::util::is_directory(folder)) throw lowbit::InputError(args.output + ": no folder " + folder + " to write it in");
  const auto recipe = engine::parse_recipe(args.recipe, args.overrides);
  if (recipe.task != "classification") recipe.fail("task", recipe.task + ": `lowbit export` exports classifiers only so far");
  // The export needs the checkpoint's model alone, on the CPU: not the recipe's device or mixed
  // precision, its data files (the data set gives the input's shape and pipeline without reading
  // any), its teacher or, given a checkpoint, its model.init; so no validate().
  auto model = eval_model(recipe, args.checkpoint, "export");
  auto* classifier = dynamic_cast<engine::Classifier*>(model.get());
  TORCH_CHECK(classifier, "lowbit export: the recipe's model is not a classifier");
  const auto data = engine::build_dataset(recipe);
  const auto example = data->example(1).images;
  lowbit::deploy::ModelInput input;
  input.channels = example.size(1);
  input.height = example.size(2);
  input.width = example.size(3);
  if (const auto pipeline = data->eval_pipeline()) {
    input.pipeline = "imagenet";
    input.interpolation = pipeline->interpolation == lowbit::data::Interpolation::Bicubic ? "bicubic" : "bilinear";
    input.crop_pct = pipeline->crop_pct;
  }
  return deploy_command([&] {
    model->to(torch::kCPU);
    const auto records = lowbit::deploy::export_network(classifier->network(), recipe.model.name, input);
    const auto bytes = lowbit::deploy::write_lbm(args.output, records);
    const auto sizes = lowbit::deploy::packed_sizes(records);
    // "; binary and ternary weights 1.3 KiB, 20.6x smaller than float32" for each kind present.
    const auto part = [](const char* what, int64_t float32, int64_t stored) {
      if (stored == 0) return std::string();
      std::ostringstream text;
      text << "; " << what << " " << size_text(stored) << ", " << std::fixed << std::setprecision(1)
           << static_cast<double>(float32) / static_cast<double>(stored) << "x smaller than float32";
      return text.str();
    };
    std::cout << "lowbit: wrote " << args.output << " (" << size_text(bytes) << ")"
              << part("binary and ternary weights", sizes.float32, sizes.packed)
              << part("multi-bit weights", sizes.codes_float32, sizes.codes) << "\n";
    return 0;
  });
}

struct InferArgs {
  std::string model;
  std::vector<std::string> images;
  int64_t top = 5;
};

CLI::App* add_infer(CLI::App& app, InferArgs& args) {
  auto* command = app.add_subcommand("infer", "Classify images with a packed .lbm model on the bit kernels");
  command->add_option("model", args.model, ".lbm file (lowbit export)")->required();
  command->add_option("images", args.images, "JPEG files")->required();
  command->add_option("--top", args.top, "classes printed per image")->check(CLI::PositiveNumber)->capture_default_str();
  return command;
}

int run_infer(const InferArgs& args) {
  return deploy_command([&] {
    const auto model = lowbit::deploy::Model::load(args.model);
    std::vector<at::Tensor> inputs;
    for (const auto& image : args.images) {
      try {
        inputs.push_back(model.prepare_image(image));
      } catch (const c10::Error& e) {  // an unreadable image: bad input, as a bad model file
        throw lowbit::InputError(e.msg());
      }
    }
    const auto probabilities = at::softmax(model.forward(at::stack(inputs)), 1);
    const auto [p, index] = probabilities.topk(std::min<int64_t>(args.top, probabilities.size(1)), 1);
    for (size_t i = 0; i < args.images.size(); ++i) {
      std::cout << args.images[i] << ":";
      for (int64_t k = 0; k < p.size(1); ++k) {
        std::cout << " " << index[static_cast<int64_t>(i)][k].item<int64_t>() << " (" << std::fixed << std::setprecision(3)
                  << p[static_cast<int64_t>(i)][k].item<float>() << ")";
      }
      std::cout << "\n";
    }
    return 0;
  });
}

struct CocoEvalArgs {
  std::string annotations, results;
};

CLI::App* add_cocoeval(CLI::App& app, CocoEvalArgs& args) {
  auto* cocoeval = app.add_subcommand("cocoeval", "COCO bbox AP/AR of a results JSON, printed as pycocotools prints them");
  cocoeval->add_option("annotations", args.annotations, "instances JSON (e.g. instances_val2017.json)")->required();
  cocoeval->add_option("results", args.results, "results JSON: [{image_id, category_id, bbox, score}, ...]")->required();
  return cocoeval;
}

// Bad input (a missing file, malformed JSON, an entry with a wrong key or value) is exit status 2.
int run_cocoeval(const CocoEvalArgs& args) {
  try {
    const auto truth = lowbit::eval::read_coco_ground_truth(args.annotations);
    const auto detections = lowbit::eval::read_coco_results(args.results, truth);
    std::cout << lowbit::eval::format_coco_summary(lowbit::eval::evaluate_coco(truth, detections).stats);
    return 0;
  } catch (const c10::Error& e) {
    std::cerr << "lowbit: error: " << e.msg() << "\n";
    return 2;
  }
}

}  // namespace

int main(int argc, char** argv) {
  lowbit::util::keep_freed_memory_in_heap();  // training's large tensors reuse freed memory
  CLI::App app{"lowbit: train low-bit and binary neural networks with LibTorch", "lowbit"};
  app.set_version_flag("--version", version_text);
  app.require_subcommand(0, 1);

  TrainArgs train_args;
  auto* train = add_train(app, train_args);

  std::string eval_recipe, eval_checkpoint;
  std::vector<std::string> eval_overrides;
  auto* eval = app.add_subcommand("eval", "Evaluate a checkpoint (or the recipe's model.init) on the recipe's test split");
  eval->add_option("recipe", eval_recipe, "recipe YAML")->required();
  eval->add_option("--checkpoint", eval_checkpoint,
                   "checkpoint.pt of a run (default: the recipe's model.init in its last stage's model)");
  eval->add_option("--set", eval_overrides, "override a recipe key")->take_all();

  std::string summary_recipe = LOWBIT_DEFAULT_RECIPE;
  std::vector<std::string> summary_overrides;
  auto* summary = app.add_subcommand("summary", "Per layer: bits, parameters, binary and other MACs, memory");
  summary->add_option("recipe", summary_recipe, "recipe YAML")->capture_default_str();
  summary->add_option("--set", summary_overrides, "override a recipe key")->take_all();

  auto* quantizers = app.add_subcommand("quantizers", "List the quantizers a recipe can name");

  CocoEvalArgs cocoeval_args;
  auto* cocoeval = add_cocoeval(app, cocoeval_args);
  ExportArgs export_args;
  auto* export_command = add_export(app, export_args);
  InferArgs infer_args;
  auto* infer = add_infer(app, infer_args);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return engine::exit_status_of(
      [&]() -> int {
        if (*train) return run_train(train_args);
        if (*eval) return run_eval(eval_recipe, eval_overrides, eval_checkpoint);
        if (*summary) return run_summary(summary_recipe, summary_overrides);
        if (*cocoeval) return run_cocoeval(cocoeval_args);
        if (*export_command) return run_export(export_args);
        if (*infer) return run_infer(infer_args);
        if (*quantizers) {
          for (const auto& name : lowbit::quant::registered_quantizers()) std::cout << name << "\n";
          return 0;
        }
        std::cout << app.help();
        return 0;
      },
      std::cerr);
}
