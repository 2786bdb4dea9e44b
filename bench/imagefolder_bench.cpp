// ImageNet input pipeline throughput on the ImageNet sample of ../shared/data, as a ratio to reading
// the same files (page-cached after a warm-up pass) with the same number of threads, timed in the
// same run: decode alone (full size, and reduced scale for a 256 resize), then whole epochs of
// ImageFolderLoader batches with the train and the eval transforms.
//   build/bench/imagefolder_bench [--root DIR] [--workers N] [--batch N] [--images N]
#include <lowbit/csrc/data/image_folder.h>
#include <lowbit/csrc/data/imagenet_pipelines.h>
#include <lowbit/csrc/data/jpeg.h>
#include <lowbit/csrc/data/loader.h>
#include <lowbit/csrc/util/files.h>

#include <torch/torch.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <thread>
#include <vector>

namespace {

using lowbit::data::ImageSample;

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Seconds to run per_file on every sample, samples split round-robin over `threads` threads.
double run_threads(const std::vector<ImageSample>& samples, int64_t threads,
                   const std::function<void(const ImageSample&)>& per_file) {
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> pool;
  for (int64_t t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (size_t i = t; i < samples.size(); i += threads) per_file(samples[i]);
    });
  }
  for (auto& thread : pool) thread.join();
  return seconds_since(start);
}

// Seconds for one epoch of batches (the loader's threads already started).
double run_epoch(lowbit::data::ImageFolderLoader& loader) {
  const auto start = std::chrono::steady_clock::now();
  loader.start_epoch(0);
  while (loader.next()) {
  }
  return seconds_since(start);
}

}  // namespace

int main(int argc, char** argv) {
  std::string root = LOWBIT_SHARED_DATA_DIR "/imagenet-sample/images";
  int64_t workers = 2, batch = 64, images = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--root") root = argv[i + 1];
    else if (flag == "--workers") workers = std::stoll(argv[i + 1]);
    else if (flag == "--batch") batch = std::stoll(argv[i + 1]);
    else if (flag == "--images") images = std::stoll(argv[i + 1]);
    else {
      std::fprintf(stderr, "usage: %s [--root DIR] [--workers N] [--batch N] [--images N]\n", argv[0]);
      return 2;
    }
  }
  auto samples = lowbit::data::scan_image_folder(root).samples;
  if (images > 0 && images < static_cast<int64_t>(samples.size())) samples.resize(images);
  const double n = static_cast<double>(samples.size());

  std::atomic<int64_t> bytes{0};
  const auto read = [&](const ImageSample& s) {
    bytes += static_cast<int64_t>(lowbit::util::read_file(s.path).size());
  };
  run_threads(samples, workers, read);  // warm the page cache
  bytes = 0;
  const double read_s = run_threads(samples, workers, read);
  const double mb = static_cast<double>(bytes) / 1e6;

  std::printf("%zu JPEGs, %.1f MB, from %s; %lld threads/workers, batch %lld, %d LibTorch threads\n", samples.size(),
              mb, root.c_str(), static_cast<long long>(workers), static_cast<long long>(batch), at::get_num_threads());
  std::printf("%-46s %10s %10s %9s\n", "stage", "images/s", "MB/s", "vs read");
  const auto row = [&](const char* stage, double s) {
    std::printf("%-46s %10.1f %10.1f %9.4f\n", stage, n / s, mb / s, read_s / s);
  };
  row("read files (baseline)", read_s);

  row("decode, full size",
      run_threads(samples, workers, [](const ImageSample& s) { lowbit::data::decode_jpeg(s.path); }));
  row("decode, reduced scale (shorter side >= 256)",
      run_threads(samples, workers, [](const ImageSample& s) { lowbit::data::decode_jpeg(s.path, 256); }));

  using lowbit::data::LoaderOptions;
  const auto train = [](const at::Tensor& image, lowbit::data::Rng& rng) {
    return lowbit::data::train_pipeline(image, rng, 224, {});
  };
  const auto eval = [](const at::Tensor& image, lowbit::data::Rng&) {
    return lowbit::data::eval_pipeline(image, 224, {});
  };
  {
    lowbit::data::ImageFolderLoader loader(samples, LoaderOptions(train).batch_size(batch).workers(workers));
    row("loader: decode + train augment -> [B,3,224,224]", run_epoch(loader));
  }
  {
    lowbit::data::ImageFolderLoader loader(samples, LoaderOptions(eval).batch_size(batch).workers(workers));
    row("loader: decode + eval (resize 256, crop 224)", run_epoch(loader));
  }
  {
    lowbit::data::ImageFolderLoader loader(
        samples, LoaderOptions(eval).batch_size(batch).workers(workers).decode_min_size(256));
    row("loader: as above, decode at reduced scale", run_epoch(loader));
  }
  return 0;
}
