// Detection data on the COCO sample of ../shared/data: how long read_coco takes on its 955 KB
// instances file and on an inflated copy (the annotations array repeated, to measure MB/s towards
// the 448 MB instances_train2017.json), then DetectionLoader epochs with DETR's eval transform
// (shorter side 800, longer <= 1333) and train transform, as images/s and as a ratio to reading
// the same files (page-cached) with the same number of threads, timed in the same run.
//   build/bench/detection_data_bench [--root DIR] [--workers N] [--batch N] [--inflate K]
#include <lowbit/csrc/data/coco.h>
#include <lowbit/csrc/data/detection_loader.h>
#include <lowbit/csrc/util/files.h>

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// The median of `runs` timings of read_coco(file, images).
double read_seconds(const std::string& file, const std::string& images, int runs) {
  std::vector<double> seconds;
  for (int i = 0; i < runs; ++i) {
    const auto start = std::chrono::steady_clock::now();
    lowbit::data::read_coco(file, images);
    seconds.push_back(seconds_since(start));
  }
  std::sort(seconds.begin(), seconds.end());
  return seconds[seconds.size() / 2];
}

// `json` with the contents of its "annotations" array written `times` times (ids repeat, which
// read_coco does not check): the parse work of a file with `times` as many annotations.
std::string inflated(const std::string& json, int64_t times) {
  const auto open = json.find('[', json.find("\"annotations\""));
  const auto close = json.rfind(']', json.find("\"categories\""));
  const auto entries = json.substr(open + 1, close - open - 1);
  std::string out = json.substr(0, open + 1);
  for (int64_t i = 0; i < times; ++i) out += (i ? ", " : "") + entries;
  return out + json.substr(close);
}

double read_files_seconds(const lowbit::data::DetectionSet& set, int64_t threads) {
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> pool;
  for (int64_t t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (size_t i = t; i < set.images.size(); i += threads) lowbit::util::read_file(set.images[i].path);
    });
  }
  for (auto& thread : pool) thread.join();
  return seconds_since(start);
}

double epoch_seconds(const lowbit::data::DetectionSet& set, lowbit::data::DetectionLoaderOptions options) {
  lowbit::data::DetectionLoader loader(set, std::move(options));
  const auto start = std::chrono::steady_clock::now();
  loader.start_epoch(0);
  while (loader.next()) {
  }
  return seconds_since(start);
}

}  // namespace

int main(int argc, char** argv) {
  std::string root = LOWBIT_SHARED_DATA_DIR "/coco-sample";
  int64_t workers = 2, batch = 2, inflate = 50;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--root") root = argv[i + 1];
    else if (flag == "--workers") workers = std::stoll(argv[i + 1]);
    else if (flag == "--batch") batch = std::stoll(argv[i + 1]);
    else if (flag == "--inflate") inflate = std::stoll(argv[i + 1]);
    else {
      std::fprintf(stderr, "usage: %s [--root DIR] [--workers N] [--batch N] [--inflate K]\n", argv[0]);
      return 2;
    }
  }
  const auto file = root + "/annotations/instances_val2017.json", images = root + "/val2017";
  const auto json = lowbit::util::read_file(file);
  const double sample_s = read_seconds(file, images, 5);
  std::printf("read_coco %s: %.1f KB in %.1f ms (%.1f MB/s)\n", file.c_str(), json.size() / 1e3, sample_s * 1e3,
              json.size() / 1e6 / sample_s);
  const auto big = "/tmp/detection_data_bench_instances.json";
  lowbit::util::replace_file(big, inflated(json, inflate));
  const auto big_bytes = static_cast<double>(lowbit::util::read_file(big).size());
  const double big_s = read_seconds(big, images, 1);
  std::printf("read_coco, annotations x%lld: %.1f MB in %.2f s (%.1f MB/s; 448 MB at that rate: %.1f s)\n",
              static_cast<long long>(inflate), big_bytes / 1e6, big_s, big_bytes / 1e6 / big_s,
              448.0 / (big_bytes / 1e6 / big_s));
  lowbit::util::remove_file(big);

  const auto set = lowbit::data::read_coco(file, images);
  read_files_seconds(set, workers);  // warm the page cache
  const double read_s = read_files_seconds(set, workers);
  const double n = static_cast<double>(set.images.size());
  std::printf("%zu images, %lld workers, batch %lld, %d LibTorch threads\n", set.images.size(),
              static_cast<long long>(workers), static_cast<long long>(batch), at::get_num_threads());
  std::printf("%-52s %10s %9s\n", "stage", "images/s", "vs read");
  const auto row = [&](const char* stage, double s) { std::printf("%-52s %10.1f %9.4f\n", stage, n / s, read_s / s); };
  row("read files (baseline)", read_s);
  const lowbit::data::DetrTransformOptions detr;
  auto batching = lowbit::data::BatchingOptions().batch_size(batch).workers(workers);
  row("loader: decode + eval (800, max 1333) + collate", epoch_seconds(set, lowbit::data::DetectionLoaderOptions(
      [detr](lowbit::data::DetectionSample s, lowbit::data::Rng&) { return detr_eval_transform(std::move(s), detr); })
      .batching(lowbit::data::BatchingOptions(batching).shuffle(false))));
  row("loader: decode + DETR train augment + collate", epoch_seconds(set, lowbit::data::DetectionLoaderOptions(
      [detr](lowbit::data::DetectionSample s, lowbit::data::Rng& rng) { return detr_train_transform(std::move(s), rng, detr); })
      .batching(batching)));
  return 0;
}
