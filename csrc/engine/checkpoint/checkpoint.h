#pragma once
// Training checkpoints: model, optimizer, the task's state (its loss terms' parameters, when it
// has any), the CPU generator's state and, for a model on a GPU, that GPU's generator's (dropout and
// drop-path masks), named extras (the loss scaler's, hooks') and the position
// in the recipe (stage, epoch, batch, global step), written to a temporary file and renamed into
// place so that a crash never leaves a half-written checkpoint behind.

#include <lowbit/csrc/engine/checkpoint/state_dict.h>

#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>

#include <map>
#include <string>

namespace lowbit::engine {

struct Position {
  int64_t stage = 0, epoch = 0, batch = 0, step = 0;  // the next batch to train
};

// Named tensors saved beside the model and optimizer (e.g. the loss scaler's state).
using Extras = std::map<std::string, torch::Tensor>;

// `task`: saved when given and it has parameters or buffers.
void save_checkpoint(const std::string& path, const torch::nn::Module& model, const torch::optim::Optimizer& optimizer,
                     const Position& progress, const Extras& extras = {}, const torch::nn::Module* task = nullptr);

// Restores what save_checkpoint wrote onto the model's device (whichever device the file was written
// from); the optimizer only when `optimizer` is given (its parameter groups must match the saved
// ones); every extra into `extras` when given, on the CPU; the task's state when `task` is given and
// has any (a checkpoint without it is an error naming the file).
Position load_checkpoint(const std::string& path, torch::nn::Module& model, torch::optim::Optimizer* optimizer,
                         Extras* extras = nullptr, torch::nn::Module* task = nullptr);

// The model's parameters and buffers stored in a checkpoint, by their dotted names, without a
// module to load them into (for load_into with renames, e.g. a student initialised from another
// run). Nothing else is restored.
NamedTensors read_checkpoint_model(const std::string& path);

// The progress stored in a checkpoint, without loading anything else.
Position read_position(const std::string& path);

}  // namespace lowbit::engine
