#pragma once
// Behaviour that follows training progress rather than the data: AdaBin's EDE (k, t) schedule
// set at the start of every epoch, ReBNN's and RBONN's pending updates settled after every
// optimizer step (rebnn.h, rbonn.h), QConv2d's and QLinear's latent weights rewritten by their
// weight quantizer after every optimizer step (BNN's clamp, XNOR-Net's centring: quantizer.h,
// settle_latent). A
// module that needs it also derives from TrainingHooks; the Trainer (or a user's own loop)
// calls begin_epoch() before each epoch and end_step() after each optimizer step, which reach
// every such module of the model. State a hook sets must live in buffers, so that a resumed
// run, which calls begin_epoch() for the epoch it resumes, is bit-exact.

#include <torch/nn/module.h>

#include <cstdint>

namespace lowbit::hooks {

class TrainingHooks {
 public:
  virtual ~TrainingHooks() = default;
  // `epoch` counts from 0 within the current stage of `epochs` epochs.
  virtual void on_epoch_begin(int64_t epoch, int64_t epochs) {}
  virtual void on_step_end() {}
};

// Calls on_epoch_begin / on_step_end on `model` and every module below it that has hooks.
void begin_epoch(torch::nn::Module& model, int64_t epoch, int64_t epochs);
void end_step(torch::nn::Module& model);

}  // namespace lowbit::hooks
