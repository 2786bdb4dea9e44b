// The input path of ImageNet training on the ImageNet sample of ../shared/data, in images/s:
//   (a) the imagenet loader alone (ImageFolderLoader, train transform, decoding_threads(0) workers),
//   (b) the loader feeding full-precision ResNet-18 training steps (SGD) through prefetch_to_device,
//   (c) the same step on one batch resident on the device, nothing loaded: the baseline.
// (b)/(c) is the fraction of the compute speed that the input path keeps. On CUDA also (b) without
// the prefetcher (Batch::to after each read, as the engine's loops copy today), and everything in
// both layouts, NCHW and channels_last (the model by to_channels_last, the images by
// PrefetchOptions), each against the baseline of its layout.
//
// The sample's files are repeated so that one epoch covers the whole run: no epoch start (the
// loader's window refilling from empty) falls inside a measurement. They come from the page cache,
// so this measures decoding and augmentation, not the disk. The first `warmup` steps are not
// timed: cuDNN's autotuning, and the batches the loader built ahead while it ran, which would make
// a loader slower than the GPU look faster than it is.
//
//   build/bench/input_pipeline_bench [--root DIR] [--device cpu|cuda] [--batch N] [--steps N]
//                                    [--warmup N] [--workers N] [--image-size N]
// Defaults: --device cuda when a GPU is present; batch 64, 100 steps after 60 on CUDA; batch 8,
// 3 steps after 1 on the CPU (a 2-core machine takes seconds per ResNet-18 step); workers 0 (auto).
#include <lowbit/csrc/data/image_folder.h>
#include <lowbit/csrc/data/imagenet_pipelines.h>
#include <lowbit/csrc/data/loader.h>
#include <lowbit/csrc/engine/datasets/decoding_threads.h>
#include <lowbit/csrc/engine/datasets/device_prefetch.h>
#include <lowbit/csrc/engine/task/channels_last.h>
#include <lowbit/csrc/util/files.h>
#include <lowbit/modules/models/registry.h>

#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace {

using lowbit::data::ImageFolderLoader;
using lowbit::data::ImageSample;
using lowbit::engine::Batch;

struct Config {
  std::string root = LOWBIT_SHARED_DATA_DIR "/imagenet-sample/images";
  torch::Device device = torch::cuda::is_available() ? torch::kCUDA : torch::kCPU;
  int64_t batch = 0, steps = 0, warmup = -1, workers = 0, image_size = 224;  // 0 / -1: the device's default
};

bool parse(int argc, char** argv, Config& c) {
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--root") c.root = value;
    else if (flag == "--device") c.device = torch::Device(value);
    else if (flag == "--batch") c.batch = std::stoll(value);
    else if (flag == "--steps") c.steps = std::stoll(value);
    else if (flag == "--warmup") c.warmup = std::stoll(value);
    else if (flag == "--workers") c.workers = std::stoll(value);
    else if (flag == "--image-size") c.image_size = std::stoll(value);
    else return false;
  }
  if (argc % 2 == 0) return false;
  const bool cuda = c.device.is_cuda();
  if (c.batch <= 0) c.batch = cuda ? 64 : 8;
  if (c.steps <= 0) c.steps = cuda ? 100 : 3;
  if (c.warmup < 0) c.warmup = cuda ? 60 : 1;
  c.workers = lowbit::engine::decoding_threads(c.workers);
  return true;
}

void synchronize(const torch::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize();
}

// Images/s of `steps` calls of step() (each returns the images it handled) after `warmup` calls.
double images_per_second(const Config& c, const std::function<int64_t()>& step) {
  for (int64_t i = 0; i < c.warmup; ++i) step();
  synchronize(c.device);
  const auto start = std::chrono::steady_clock::now();
  int64_t images = 0;
  for (int64_t i = 0; i < c.steps; ++i) images += step();
  synchronize(c.device);
  return static_cast<double>(images) / std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// The engine's imagenet training loader (datasets/image_folder.cpp) over `samples`, epoch 0 begun.
std::unique_ptr<ImageFolderLoader> train_loader(const std::vector<ImageSample>& samples, const Config& c) {
  const int64_t size = c.image_size;
  lowbit::data::LoaderOptions options([size](const at::Tensor& image, lowbit::data::Rng& rng) {
    return lowbit::data::train_pipeline(image, rng, size, {});
  });
  auto loader = std::make_unique<ImageFolderLoader>(samples, options.batch_size(c.batch).workers(c.workers).drop_last(true));
  loader->start_epoch(0);
  return loader;
}

// The loader as the engine's data sets deliver it.
class LoaderReader : public lowbit::engine::EpochReader {
 public:
  explicit LoaderReader(std::unique_ptr<ImageFolderLoader> loader) : loader_(std::move(loader)) {}
  bool next(Batch& batch) override {
    auto built = loader_->next();
    if (!built) return false;
    batch = Batch();
    batch.images = built->images;
    batch.labels = built->labels;
    return true;
  }

 private:
  std::unique_ptr<ImageFolderLoader> loader_;
};

Batch read(lowbit::engine::EpochReader& reader) {
  Batch batch;
  TORCH_CHECK(reader.next(batch), "input_pipeline_bench: the epoch ended early");
  return batch;
}

// Full-precision ResNet-18 (modules/models, by name) and its SGD step on one batch.
class Trainer {
 public:
  Trainer(const torch::Device& device, bool channels_last)
      : net_(lowbit::models::make("resnet18", {}, lowbit::models::QuantPolicy{})),
        optimizer_(placed(net_, device, channels_last), torch::optim::SGDOptions(0.01).momentum(0.9)) {}

  int64_t step(const Batch& batch) {
    optimizer_.zero_grad();
    torch::nn::functional::cross_entropy(net_->forward(batch.images), batch.labels).backward();
    optimizer_.step();
    return batch.size();
  }

 private:
  static std::vector<torch::Tensor> placed(torch::nn::Sequential& net, const torch::Device& device, bool channels_last) {
    net->to(device);
    if (channels_last) lowbit::engine::to_channels_last(*net);
    return net->parameters();
  }

  torch::nn::Sequential net_;
  torch::optim::SGD optimizer_;
};

struct Rates {
  double resident = 0, prefetched = 0, copied = 0;  // (c), (b), (b) with Batch::to (CUDA only)
};

// (c) and (b) in one layout.
Rates measure_layout(const std::vector<ImageSample>& samples, const Config& c, bool channels_last) {
  torch::manual_seed(0);
  Rates r;
  {
    LoaderReader first(train_loader(samples, c));
    auto resident = read(first).to(c.device);
    if (channels_last) resident.images = resident.images.contiguous(torch::MemoryFormat::ChannelsLast);
    Trainer trainer(c.device, channels_last);
    r.resident = images_per_second(c, [&] { return trainer.step(resident); });
  }
  {
    auto reader = lowbit::engine::prefetch_to_device(std::make_unique<LoaderReader>(train_loader(samples, c)), c.device,
                                                     lowbit::engine::PrefetchOptions().channels_last(channels_last));
    Trainer trainer(c.device, channels_last);
    r.prefetched = images_per_second(c, [&] { return trainer.step(read(*reader)); });
  }
  if (c.device.is_cuda()) {
    LoaderReader reader(train_loader(samples, c));
    Trainer trainer(c.device, channels_last);
    r.copied = images_per_second(c, [&] {
      auto batch = read(reader).to(c.device);
      if (channels_last) batch.images = batch.images.contiguous(torch::MemoryFormat::ChannelsLast);
      return trainer.step(batch);
    });
  }
  return r;
}

void row(const char* stage, double rate, double baseline, const char* note = "") {
  std::printf("  %-52s %10.1f %10.4f  %s\n", stage, rate, rate / baseline, note);
}

void print_layout(const char* name, const Rates& r, bool cuda) {
  std::printf("%s\n", name);
  row("ResNet-18 step, one resident batch (baseline)", r.resident, r.resident);
  row("loader -> prefetch_to_device -> step", r.prefetched, r.resident, "<- fraction of compute speed kept");
  if (cuda) row("loader -> Batch::to -> step (no prefetch)", r.copied, r.resident);
}

// The samples repeated until one epoch holds every batch the run reads.
std::vector<ImageSample> enough_samples(const std::vector<ImageSample>& samples, const Config& c, int64_t& repeats) {
  const int64_t needed = (c.warmup + c.steps + 1) * c.batch;
  repeats = (needed + static_cast<int64_t>(samples.size()) - 1) / static_cast<int64_t>(samples.size());
  std::vector<ImageSample> out;
  for (int64_t r = 0; r < repeats; ++r) out.insert(out.end(), samples.begin(), samples.end());
  return out;
}

void print_header(const Config& c, size_t files, int64_t repeats) {
  std::printf("%zu JPEGs from %s", files, c.root.c_str());
  if (repeats > 1) std::printf(", each used %lld times so that one epoch covers the run", static_cast<long long>(repeats));
  std::printf("\n");
  std::printf("device %s%s; batch %lld, %lld px; %lld timed steps after %lld; %lld decoding threads (%u hardware threads, "
              "LOCAL_WORLD_SIZE %s); %d LibTorch threads\n",
              c.device.str().c_str(), c.device.is_cuda() ? ", cudnn.benchmark on" : "", static_cast<long long>(c.batch),
              static_cast<long long>(c.image_size), static_cast<long long>(c.steps), static_cast<long long>(c.warmup),
              static_cast<long long>(c.workers), std::thread::hardware_concurrency(),
              std::getenv("LOCAL_WORLD_SIZE") ? std::getenv("LOCAL_WORLD_SIZE") : "unset", at::get_num_threads());
  std::printf("%-54s %10s %10s\n", "stage", "images/s", "vs base");
}

}  // namespace

int main(int argc, char** argv) {
  Config c;
  if (!parse(argc, argv, c)) {
    std::fprintf(stderr, "usage: %s [--root DIR] [--device cpu|cuda] [--batch N] [--steps N] [--warmup N] [--workers N] "
                         "[--image-size N]\n", argv[0]);
    return 2;
  }
  if (!lowbit::util::is_directory(c.root)) {
    std::printf("input_pipeline_bench: skipped: %s is absent (the ImageNet sample of ../shared/data, see its README; "
                "or --root DIR of class folders)\n", c.root.c_str());
    return 0;
  }
  if (c.device.is_cuda()) at::globalContext().setBenchmarkCuDNN(true);  // fixed shapes: autotune once
  const auto files = lowbit::data::scan_image_folder(c.root).samples;
  int64_t repeats = 0;
  const auto samples = enough_samples(files, c, repeats);
  print_header(c, files.size(), repeats);

  double loader_rate = 0;
  {
    LoaderReader alone(train_loader(samples, c));
    loader_rate = images_per_second(c, [&] { return read(alone).size(); });
  }
  const auto nchw = measure_layout(samples, c, false);
  print_layout("layout NCHW (contiguous)", nchw, c.device.is_cuda());
  if (c.device.is_cuda()) print_layout("layout channels_last", measure_layout(samples, c, true), true);
  row("loader alone (decode + train augment, vs NCHW step)", loader_rate, nchw.resident);
  return 0;
}
