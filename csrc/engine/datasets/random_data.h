#pragma once
// Random batches shaped as a data set's (DataSet::example), so that a run trains without the data
// set's files: what `lowbit train --dry-run` (dry_run.h) feeds the real training loop.
//   images   N(0, 1) (normalised images), [B, C, H, W] as the data set's, or [B, C, S, S]
//   labels   classification: uniform in [0, classes)
//   targets  detection: 1 to 3 boxes per image, centre U(0.25, 0.75) and size U(0.1, 0.5) of
//            the image's (DETR's normalised (cx, cy, w, h)), labels uniform over the data set's
//            K categories (meta "category_ids"); the evaluation's copies (gt_*) in pixels of the
//            unpadded, untransformed image
// Every epoch has the same batches, drawn once from `seed` when a split is opened.

#include <lowbit/csrc/engine/datasets/dataset.h>

#include <torch/arg.h>

#include <memory>

namespace lowbit::engine {

struct RandomDataOptions {
  TORCH_ARG(int64_t, batch_size) = 2;
  TORCH_ARG(int64_t, train_batches) = 2;  // per epoch; the test split has one
  // Classification labels in [0, classes); 0 keeps the data set's example labels.
  TORCH_ARG(int64_t, classes) = 0;
  // > 0: square images of this side instead of the data set's (a detector takes any size).
  TORCH_ARG(int64_t, image_size) = 0;
  TORCH_ARG(uint64_t, seed) = 0;
};

// A data set whose splits are random batches shaped as `shape`'s examples.
std::shared_ptr<DataSet> random_data(std::shared_ptr<const DataSet> shape, RandomDataOptions options);

}  // namespace lowbit::engine
