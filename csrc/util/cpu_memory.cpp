#include <lowbit/csrc/util/cpu_memory.h>

#include <c10/core/CPUAllocator.h>
#include <c10/util/Exception.h>

#include <atomic>
#include <mutex>
#include <unordered_map>

namespace lowbit::util {

struct CpuMemoryCounter::Counts {
  std::atomic<int64_t> live{0}, peak{0};

  void add(int64_t bytes) {
    const int64_t now = live.fetch_add(bytes) + bytes;
    int64_t seen = peak.load();
    while (now > seen && !peak.compare_exchange_weak(seen, now)) {
    }
  }
};

namespace {

using Counts = CpuMemoryCounter::Counts;

std::atomic<bool> g_installed{false};

// Every allocation made through a counter, by address: the data pointer is also the context
// (Allocator::raw_allocate, which oneDNN uses, requires it), so the size is looked up here.
struct Counted {
  c10::DataPtr inner;
  int64_t bytes;
  std::shared_ptr<Counts> counts;
};
std::mutex g_mutex;
std::unordered_map<void*, Counted>& allocations() {
  static std::unordered_map<void*, Counted> map;
  return map;
}

void release(void* data) {
  Counted counted;
  {
    const std::lock_guard<std::mutex> lock(g_mutex);
    const auto it = allocations().find(data);
    if (it == allocations().end()) return;
    counted = std::move(it->second);
    allocations().erase(it);
  }
  counted.counts->live.fetch_sub(counted.bytes);
}  // counted.inner frees the memory

class CountingAllocator final : public c10::Allocator {
 public:
  CountingAllocator(c10::Allocator* inner, std::shared_ptr<Counts> counts) : inner_(inner), counts_(std::move(counts)) {}

  c10::DataPtr allocate(size_t n) override {
    auto inner = inner_->allocate(n);
    void* data = inner.get();
    if (data == nullptr) return inner;
    const auto device = inner.device();
    {
      const std::lock_guard<std::mutex> lock(g_mutex);
      allocations().emplace(data, Counted{std::move(inner), static_cast<int64_t>(n), counts_});
    }
    counts_->add(static_cast<int64_t>(n));
    return {data, data, &release, device};
  }

  c10::DeleterFnPtr raw_deleter() const override { return &release; }

  void copy_data(void* dest, const void* src, std::size_t count) const override { default_copy_data(dest, src, count); }

 private:
  c10::Allocator* inner_;
  std::shared_ptr<Counts> counts_;
};

// Above the priority LibTorch registers its default CPU allocator with.
constexpr uint8_t kPriority = 100;

}  // namespace

struct CpuMemoryCounter::Installed {
  c10::Allocator* previous;
  std::unique_ptr<c10::Allocator> allocator;
};

CpuMemoryCounter::CpuMemoryCounter() : counts_(std::make_shared<Counts>()) {
  TORCH_CHECK(!g_installed.exchange(true), "CpuMemoryCounter: another counter is already alive");
  auto* previous = c10::GetCPUAllocator();
  installed_.reset(new Installed{previous, std::make_unique<CountingAllocator>(previous, counts_)});
  c10::SetCPUAllocator(installed_->allocator.get(), kPriority);
}

CpuMemoryCounter::~CpuMemoryCounter() {
  // The allocations still alive are released through `release`, which needs no allocator.
  c10::SetCPUAllocator(installed_->previous, kPriority);
  g_installed = false;
}

int64_t CpuMemoryCounter::live_bytes() const { return counts_->live.load(); }
int64_t CpuMemoryCounter::peak_bytes() const { return counts_->peak.load(); }
void CpuMemoryCounter::reset_peak() { counts_->peak.store(counts_->live.load()); }

}  // namespace lowbit::util
