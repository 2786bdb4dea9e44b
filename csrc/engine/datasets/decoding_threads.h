#pragma once
// How many threads a data set that decodes (imagenet, coco, voc) starts: a recipe's
// `data.workers`, where 0 means "size it to the machine".

#include <cstdint>

namespace lowbit::engine {

// `workers` > 0: that many, as written. 0 (auto): the machine's hardware threads
// (std::thread::hardware_concurrency) shared equally among the training processes on this machine
// (dist::read_environment's local_world_size: torchrun's LOCAL_WORLD_SIZE, SLURM's tasks per node;
// one process without a launcher), at least 1. Sharing matters: eight processes on 64 cores that
// each start 64 decoders run 512 threads on 64 cores. Throws dist::SetupError naming the variable
// when it is malformed.
int64_t decoding_threads(int64_t workers);

}  // namespace lowbit::engine
