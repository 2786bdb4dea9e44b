#include <lowbit/modules/hooks/replicas.h>

#include <ATen/ATen.h>

namespace lowbit::hooks {
namespace {

thread_local Replicas* current = nullptr;

}  // namespace

Replicas* replicas() { return current; }

ReplicasScope::ReplicasScope(Replicas* replicas) : previous_(current) { current = replicas; }

ReplicasScope::~ReplicasScope() { current = previous_; }

int64_t batch_numel(const at::Tensor& x) {
  const bool parameter = x.is_leaf() && x.requires_grad();
  return current != nullptr && !parameter ? x.numel() * current->world_size() : x.numel();
}

void all_reduce_(at::Tensor& tensor, ReduceOp op) {
  if (current != nullptr && current->world_size() > 1) current->all_reduce(tensor, op);
}

at::Tensor all_gather_rows(Replicas& replicas, const at::Tensor& rows) {
  const auto world = replicas.world_size(), rank = replicas.rank();
  TORCH_CHECK(rows.dim() >= 1, "all_gather_rows: expected at least one dimension, got a scalar");
  auto counts = at::zeros({world}, rows.options().dtype(at::kLong));
  counts[rank] = rows.size(0);
  replicas.all_reduce(counts, ReduceOp::Sum);
  const auto host = counts.cpu();
  const auto* n = host.data_ptr<int64_t>();
  int64_t offset = 0, total = 0;
  for (int64_t r = 0; r < world; ++r) {
    if (r < rank) offset += n[r];
    total += n[r];
  }
  auto shape = rows.sizes().vec();
  shape[0] = total;
  auto all = at::zeros(shape, rows.options());
  all.narrow(0, offset, rows.size(0)).copy_(rows);
  replicas.all_reduce(all, ReduceOp::Sum);
  return all;
}

}  // namespace lowbit::hooks
