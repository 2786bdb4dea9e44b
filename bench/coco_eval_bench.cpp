// COCO bbox evaluation time against pycocotools, timed in the same run on the same files: a
// synthetic val2017-sized set (5,000 images, the 80 COCO categories, 0..14 objects an image (7 on
// average, 1% crowds), 100 detections an image: 3 jittered copies of each object, the rest
// anywhere) written as an instances JSON and a results JSON to a temporary folder; lowbit reads
// both and evaluates (with one thread and with all), pycocotools runs COCO(), loadRes() and
// COCOeval evaluate() + accumulate() + summarize() in a child Python. Both print the same 12 numbers.
//   build/bench/coco_eval_bench [--images N] [--detections N]
//   LOWBIT_PYTHON=/tmp/venv-coco/bin/python build/bench/coco_eval_bench   (default: python3)
#include <lowbit/csrc/data/rng.h>
#include <lowbit/csrc/eval/coco_eval.h>
#include <lowbit/csrc/eval/coco_json.h>
#include <lowbit/csrc/util/files.h>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using lowbit::eval::CocoAnnotation;
using lowbit::eval::CocoDetection;

constexpr int kCategoryIds[80] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21,
                                  22, 23, 24, 25, 27, 28, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44,
                                  46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65,
                                  67, 70, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 84, 85, 86, 87, 88, 89, 90};

struct Synthetic {
  std::vector<int64_t> image_ids;
  std::vector<CocoAnnotation> objects;
  std::vector<CocoDetection> detections;
};

CocoAnnotation random_object(lowbit::data::Rng& rng, int64_t image_id) {
  const double w = 4 + rng.uniform() * rng.uniform() * 400, h = 4 + rng.uniform() * rng.uniform() * 300;
  const double x = rng.uniform() * (640 - w), y = rng.uniform() * (480 - h);
  return {image_id, kCategoryIds[rng.integer(0, 79)], {x, y, w, h}, w * h * (0.6 + 0.3 * rng.uniform()), rng.uniform() < 0.01};
}

Synthetic make_synthetic(int images, int detections_per_image) {
  lowbit::data::Rng rng(7);
  Synthetic s;
  for (int64_t id = 1; id <= images; ++id) {
    s.image_ids.push_back(id);
    const size_t first = s.objects.size();
    for (int n = rng.integer(0, 14); n > 0; --n) s.objects.push_back(random_object(rng, id));
    for (int d = 0; d < detections_per_image; ++d) {
      const size_t object = first + static_cast<size_t>(d / 3);
      if (object < s.objects.size()) {
        const auto& o = s.objects[object];
        const auto [x, y, w, h] = o.bbox;
        s.detections.push_back({id, rng.uniform() < 0.9 ? o.category_id : kCategoryIds[rng.integer(0, 79)],
                                {x + (rng.uniform() - 0.5) * 0.4 * w, y + (rng.uniform() - 0.5) * 0.4 * h,
                                 w * (0.7 + 0.6 * rng.uniform()), h * (0.7 + 0.6 * rng.uniform())},
                                rng.uniform()});
      } else {
        const auto o = random_object(rng, id);
        s.detections.push_back({id, o.category_id, o.bbox, 0.5 * rng.uniform()});
      }
    }
  }
  return s;
}

void write_instances(const std::string& path, const Synthetic& s) {
  FILE* f = std::fopen(path.c_str(), "w");
  std::fprintf(f, "{\"images\": [");
  for (size_t i = 0; i < s.image_ids.size(); ++i) {
    std::fprintf(f, "%s{\"id\": %lld, \"width\": 640, \"height\": 480}", i ? ", " : "", static_cast<long long>(s.image_ids[i]));
  }
  std::fprintf(f, "], \"categories\": [");
  for (int c = 0; c < 80; ++c) std::fprintf(f, "%s{\"id\": %d, \"name\": \"c%d\"}", c ? ", " : "", kCategoryIds[c], c);
  std::fprintf(f, "], \"annotations\": [");
  for (size_t i = 0; i < s.objects.size(); ++i) {
    const auto& o = s.objects[i];
    std::fprintf(f, "%s{\"id\": %zu, \"image_id\": %lld, \"category_id\": %lld, \"bbox\": [%.17g, %.17g, %.17g, %.17g], "
                 "\"area\": %.17g, \"iscrowd\": %d}", i ? ", " : "", i + 1, static_cast<long long>(o.image_id),
                 static_cast<long long>(o.category_id), o.bbox[0], o.bbox[1], o.bbox[2], o.bbox[3], o.area, o.iscrowd ? 1 : 0);
  }
  std::fprintf(f, "]}\n");
  std::fclose(f);
}

void write_results(const std::string& path, const Synthetic& s) {
  FILE* f = std::fopen(path.c_str(), "w");
  std::fprintf(f, "[");
  for (size_t i = 0; i < s.detections.size(); ++i) {
    const auto& d = s.detections[i];
    std::fprintf(f, "%s{\"image_id\": %lld, \"category_id\": %lld, \"bbox\": [%.17g, %.17g, %.17g, %.17g], \"score\": %.17g}",
                 i ? ", " : "", static_cast<long long>(d.image_id), static_cast<long long>(d.category_id), d.bbox[0],
                 d.bbox[1], d.bbox[2], d.bbox[3], d.score);
  }
  std::fprintf(f, "]\n");
  std::fclose(f);
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

struct LowbitRun {
  double load_s, evaluate_s;
  lowbit::eval::CocoStats stats;
};

LowbitRun run_lowbit(const std::string& instances, const std::string& results, int threads) {
  const auto start = std::chrono::steady_clock::now();
  const auto truth = lowbit::eval::read_coco_ground_truth(instances);
  const auto detections = lowbit::eval::read_coco_results(results, truth);
  const double load_s = seconds_since(start);
  const auto evaluated = std::chrono::steady_clock::now();
  const auto stats = lowbit::eval::evaluate_coco(truth, detections, {threads}).stats;
  return {load_s, seconds_since(evaluated), stats};
}

constexpr char kPycocotoolsScript[] = R"(import contextlib, io, sys, time
start = time.perf_counter()
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
with contextlib.redirect_stdout(io.StringIO()):
    gt = COCO(sys.argv[1])
    dt = gt.loadRes(sys.argv[2])
    loaded = time.perf_counter()
    e = COCOeval(gt, dt, "bbox")
    e.evaluate()
    e.accumulate()
    e.summarize()
done = time.perf_counter()
print(loaded - start, done - loaded, *[repr(float(s)) for s in e.stats])
)";

// pycocotools' load and evaluation seconds and stats; false when the run failed.
bool run_pycocotools(const std::string& python, const std::string& dir, double& load_s, double& evaluate_s,
                     lowbit::eval::CocoStats& stats) {
  const auto script = dir + "/pycocotools_eval.py";
  lowbit::util::replace_file(script, kPycocotoolsScript);
  const auto command = "'" + python + "' '" + script + "' '" + dir + "/instances.json' '" + dir + "/results.json'";
  FILE* pipe = popen(command.c_str(), "r");
  std::string output;
  char buffer[4096];
  for (size_t n; (n = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0;) output.append(buffer, n);
  if (pclose(pipe) != 0) return false;
  std::istringstream in(output);
  in >> load_s >> evaluate_s;
  for (auto& s : stats) in >> s;
  return static_cast<bool>(in);
}

// Runs pycocotools on the files in `dir` (when `python` has it) and prints its time and the ratios.
void compare_with_pycocotools(const std::string& dir, const LowbitRun (&lowbit)[2], const int (&threads)[2],
                              const char* program) {
  const char* env = std::getenv("LOWBIT_PYTHON");
  const std::string python = env != nullptr && *env != '\0' ? env : "python3";
  if (std::system(("'" + python + "' -c 'import pycocotools.cocoeval' 2>/dev/null").c_str()) != 0) {
    std::printf("pycocotools is not importable by %s: only lowbit's time is shown. To compare, e.g.\n"
                "  python3 -m venv /tmp/venv-coco && /tmp/venv-coco/bin/pip install pycocotools numpy\n"
                "  LOWBIT_PYTHON=/tmp/venv-coco/bin/python %s\n", python.c_str(), program);
    return;
  }
  double load_s = 0, evaluate_s = 0;
  lowbit::eval::CocoStats stats{};
  if (!run_pycocotools(python, dir, load_s, evaluate_s, stats)) {
    std::printf("pycocotools (%s) failed: only lowbit's time is shown\n", python.c_str());
    return;
  }
  const double total = load_s + evaluate_s;
  std::printf("pycocotools:      load %6.2f s + evaluate %6.2f s = %6.2f s\n", load_s, evaluate_s, total);
  double largest = 0;
  for (size_t i = 0; i < stats.size(); ++i) largest = std::max(largest, std::fabs(lowbit[1].stats[i] - stats[i]));
  std::printf("largest difference of the 12 numbers, lowbit vs pycocotools: %.3g\n", largest);
  for (int t = 0; t < 2; ++t) {
    std::printf("pycocotools / lowbit (%d thread%s): %.1fx in all, %.1fx evaluating\n", threads[t],
                threads[t] == 1 ? "" : "s", total / (lowbit[t].load_s + lowbit[t].evaluate_s),
                evaluate_s / lowbit[t].evaluate_s);
  }
}

}  // namespace

int main(int argc, char** argv) {
  int images = 5000, detections = 100;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--images") images = std::atoi(argv[i + 1]);
    else if (flag == "--detections") detections = std::atoi(argv[i + 1]);
    else {
      std::fprintf(stderr, "usage: %s [--images N] [--detections N]\n", argv[0]);
      return 2;
    }
  }
  char dir_template[] = "/tmp/lowbit-coco-bench-XXXXXX";
  const std::string dir = ::mkdtemp(dir_template);
  const auto synthetic = make_synthetic(images, detections);
  write_instances(dir + "/instances.json", synthetic);
  write_results(dir + "/results.json", synthetic);
  std::printf("%d images, 80 categories, %zu objects, %zu detections (in %s)\n", images, synthetic.objects.size(),
              synthetic.detections.size(), dir.c_str());

  const int threads[2] = {1, static_cast<int>(std::max(1u, std::thread::hardware_concurrency()))};
  LowbitRun lowbit[2];
  for (int t = 0; t < 2; ++t) {
    lowbit[t] = run_lowbit(dir + "/instances.json", dir + "/results.json", threads[t]);
    std::printf("lowbit, %2d thread%s: load %6.2f s + evaluate %6.2f s = %6.2f s\n", threads[t],
                threads[t] == 1 ? " " : "s", lowbit[t].load_s, lowbit[t].evaluate_s, lowbit[t].load_s + lowbit[t].evaluate_s);
  }
  std::fputs(lowbit::eval::format_coco_summary(lowbit[1].stats).c_str(), stdout);
  compare_with_pycocotools(dir, lowbit, threads, argv[0]);
  for (const char* name : {"/instances.json", "/results.json", "/pycocotools_eval.py"}) lowbit::util::remove_file(dir + name);
  ::rmdir(dir.c_str());
  return 0;
}
