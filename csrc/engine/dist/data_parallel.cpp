#include <lowbit/csrc/engine/dist/data_parallel.h>

#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#include <torch/csrc/distributed/c10d/comm.hpp>
#include <torch/csrc/distributed/c10d/logger.hpp>
#include <torch/csrc/distributed/c10d/reducer.hpp>

namespace lowbit::engine::dist {
namespace {

constexpr size_t kBroadcastBucketBytes = 250 * 1024 * 1024;  // DDP's _DEFAULT_BUCKET_CAP for its state sync

// Drops c10d's hint that find_unused_parameters found no unused parameter, which every rank would
// print: the models here that need the option (RBONN's u is unused in its first step only) trip it.
class WithoutUnusedParameterHint : public c10::WarningHandler {
 public:
  explicit WithoutUnusedParameterHint(c10::WarningHandler* next) : next_(next) {}
  void process(const c10::Warning& warning) override {
    if (warning.msg().find("find_unused_parameters=True was specified") == std::string::npos) next_->process(warning);
  }

 private:
  c10::WarningHandler* next_;
};

}  // namespace

DataParallel::DataParallel(ProcessGroup& group, const torch::OrderedDict<std::string, torch::Tensor>& parameters,
                           std::vector<torch::Tensor> buffers, DataParallelOptions options)
    : group_(group), buffers_(std::move(buffers)), options_(options) {
  std::vector<torch::Tensor> trained;
  std::unordered_map<size_t, std::string> names;
  for (const auto& p : parameters) {
    if (!p.value().requires_grad()) continue;
    names.emplace(trained.size(), p.key());
    trained.push_back(p.value());
  }
  TORCH_CHECK(!trained.empty(), "data-parallel training: the model has no parameter that requires a gradient");
  try {
    c10d::verify_params_across_processes(group_.group(), trained, std::nullopt);
  } catch (const std::exception& e) {
    throw PeerError(group_.rank(), group_.world_size(),
                    std::string("the processes' models differ (same recipe everywhere?): ") + c10::GetExceptionString(e));
  }
  broadcast(trained);
  broadcast(buffers_);
  const auto cap = static_cast<int64_t>(options_.bucket_mb * 1024 * 1024);
  const std::vector<bool> sparse(trained.size(), false);
  auto [buckets, limits] = c10d::compute_bucket_assignment_by_size(
      trained, {static_cast<size_t>(c10d::kDefaultFirstBucketBytes), static_cast<size_t>(cap)}, sparse);
  // Reversed, as DDP: gradients arrive roughly in the reverse order of the parameters.
  std::reverse(buckets.begin(), buckets.end());
  std::vector<int64_t> caps(limits.rbegin(), limits.rend());
  reducer_ = std::make_shared<c10d::Reducer>(trained, std::move(buckets), group_.group(), sparse, cap,
                                             options_.find_unused_parameters, /*gradient_as_bucket_view=*/false,
                                             std::move(names), c10d::kDefaultFirstBucketBytes,
                                             /*skip_all_reduce_unused_params=*/false, /*use_python_reducer=*/false,
                                             std::move(caps));
  logger_ = std::make_shared<c10d::Logger>(reducer_);
  reducer_->set_logger(logger_);
  logger_->set_construction_data_and_log("lowbit", {}, -1, options_.broadcast_buffers, group_.sync_batch_norm,
                                         /*static_graph=*/false);
}

DataParallel::~DataParallel() = default;

void DataParallel::broadcast(const std::vector<torch::Tensor>& tensors) {
  std::vector<torch::Tensor> data;
  for (const auto& t : tensors) {
    if (t.numel() > 0) data.push_back(t.detach());  // the same on every rank: their state agrees
  }
  if (data.empty()) return;
  group_.guarded("broadcast from rank 0", [&] {
    torch::NoGradGuard no_grad;
    c10d::broadcast_coalesced(group_.group(), data, kBroadcastBucketBytes, 0);
  });
}

void DataParallel::before_forward() {
  reducer_->prepare_for_forward();
  if (options_.broadcast_buffers) broadcast(buffers_);
  group_.guarded("the gradient buckets' rebuild", [&] { reducer_->rebuild_buckets(); });
}

void DataParallel::before_backward(const torch::Tensor& loss) {
  WithoutUnusedParameterHint quiet(c10::WarningUtils::get_warning_handler());
  c10::WarningUtils::WarningHandlerGuard guard(&quiet);
  try {
    reducer_->prepare_for_backward({loss});
  } catch (const std::exception& e) {
    throw PeerError(group_.rank(), group_.world_size(), c10::GetExceptionString(e));
  }
}

void DataParallel::backward(const std::function<void()>& backward) {
  group_.guarded("the gradients' all-reduce", backward);
}

}  // namespace lowbit::engine::dist
