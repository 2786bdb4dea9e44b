#pragma once
// Data-parallel replicas as threads of one process, for tests of modules' replica behaviour
// (modules/hooks/replicas.h) without a process group: run_replicas(n, body) runs body(rank) on n
// threads, each inside a ReplicasScope of one shared in-memory group, and rethrows the first
// exception. Collectives must be called by every thread in the same order, as with c10d.

#include <lowbit/modules/hooks/replicas.h>

#include <functional>

namespace lowbit::testing {

void run_replicas(int64_t world_size, const std::function<void(int64_t rank)>& body);

}  // namespace lowbit::testing
