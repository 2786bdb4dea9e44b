// `lowbit export` and `lowbit infer` end to end: a small ReActNet trained a step on the ImageNet
// sample (../shared/data/imagenet-sample), exported from its checkpoint, classifies JPEGs as the
// training graph does in eval mode on the same inputs.
#include <lowbit/csrc/deploy/export.h>
#include <lowbit/csrc/deploy/model.h>
#include <lowbit/csrc/engine/build.h>
#include <lowbit/csrc/engine/checkpoint/checkpoint.h>
#include <lowbit/csrc/engine/recipe/recipe.h>
#include <lowbit/csrc/engine/task/classifier.h>
#include <lowbit/csrc/engine/train.h>
#include <lowbit/csrc/util/files.h>

#include "support/imagenet_sample.h"
#include "support/run_cli.h"
#include "support/temp_dir.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <sstream>

namespace export_infer_cli_test {  // named: unity builds join test files

class ExportInferCli : public lowbit::testing::ImagenetSampleTest {};

std::vector<std::string> first_images(size_t count) {
  std::vector<std::string> images;
  for (const auto& folder : lowbit::util::list_directory(lowbit::testing::imagenet_sample_images())) {
    const auto dir = lowbit::util::join_path(lowbit::testing::imagenet_sample_images(), folder.name);
    for (const auto& file : lowbit::util::list_directory(dir)) images.push_back(lowbit::util::join_path(dir, file.name));
    if (images.size() >= count) break;
  }
  images.resize(count);
  return images;
}

TEST_F(ExportInferCli, ExportedReActNetClassifiesJpegsAsTheTrainingGraph) {
  lowbit::testing::TempDir dir;
  dir.write("r.yaml", "name: tiny_reactnet\nseed: 3\n"
                      "data: {dataset: imagenet, root: " + lowbit::testing::imagenet_sample_dir() +
                      ", train_folder: images, val_folder: images,\n"
                      "       image_size: 64, batch_size: 8, eval_batch_size: 8, workers: 2, limit_train: 8, limit_test: 8,\n"
                      "       eval_transform: {crop_pct: 0.9}}\n"
                      "model: {name: reactnet_resnet18, blocks: [1, 1], widths: [16, 32], classes: 1000,\n"
                      "        weight_quantizer: {name: xnor, scale_grad: detached}, input_quantizer: {name: rsign}}\n"
                      "stages: [{epochs: 1, optimizer: {name: adam, lr: 0.01}}]\n");
  const auto recipe = lowbit::engine::parse_recipe(dir.file("r.yaml"), {"output=" + dir.path()});
  lowbit::util::make_directories(dir.file("run"));
  std::ostringstream log;
  lowbit::engine::train(recipe, dir.file("run"), false, log);

  const auto checkpoint = dir.file("run/checkpoint.pt");
  const auto exported = lowbit::testing::run_cli({"export", dir.file("r.yaml"), "--checkpoint", checkpoint, "-o",
                                                  dir.file("m.lbm")});
  ASSERT_EQ(exported.status, 0) << exported.output;
  EXPECT_NE(exported.output.find("lowbit: wrote " + dir.file("m.lbm")), std::string::npos) << exported.output;
  // The export needs the model alone, on the CPU: the same file from a recipe that trains on CUDA with
  // float16, whose data is not on this machine.
  const auto elsewhere = lowbit::testing::run_cli({"export", dir.file("r.yaml"), "--checkpoint", checkpoint, "-o",
                                                   dir.file("elsewhere.lbm"), "--set", "device=cuda", "--set",
                                                   "train.amp=fp16", "--set", "data.root=" + dir.file("no_data")});
  ASSERT_EQ(elsewhere.status, 0) << elsewhere.output;
  EXPECT_EQ(lowbit::util::read_file(dir.file("elsewhere.lbm")), lowbit::util::read_file(dir.file("m.lbm")));

  const auto model = lowbit::deploy::Model::load(dir.file("m.lbm"));
  EXPECT_EQ(model.input().pipeline, "imagenet");
  EXPECT_EQ(model.input().height, 64);
  EXPECT_DOUBLE_EQ(model.input().crop_pct, 0.9);
  const auto images = first_images(3);
  std::vector<torch::Tensor> inputs;
  for (const auto& image : images) inputs.push_back(model.prepare_image(image));
  const auto batch = torch::stack(inputs);
  EXPECT_EQ(batch.sizes(), torch::IntArrayRef({3, 3, 64, 64}));

  auto trained = lowbit::engine::build_model(recipe, 0);
  lowbit::engine::load_checkpoint(checkpoint, *trained, nullptr);
  trained->train(false);
  auto& network = dynamic_cast<lowbit::engine::Classifier&>(*trained).network();
  torch::NoGradGuard no_grad;
  const auto expected = network.as<torch::nn::Sequential>()->forward(batch);
  const auto actual = model.forward(batch);
  EXPECT_LE((actual - expected).abs().max().item<double>(), 1e-4 * expected.abs().max().item<double>());

  const auto inferred = lowbit::testing::run_cli({"infer", dir.file("m.lbm"), images[0], images[1], images[2], "--top", "2"});
  ASSERT_EQ(inferred.status, 0) << inferred.output;
  const auto top = expected.argmax(1);
  for (size_t i = 0; i < images.size(); ++i) {
    const auto line = images[i] + ": " + std::to_string(top[static_cast<int64_t>(i)].item<int64_t>()) + " (";
    EXPECT_NE(inferred.output.find(line), std::string::npos) << line << "\n" << inferred.output;
  }
  dir.write("not.jpg", "GIF89a");
  const auto not_jpeg = lowbit::testing::run_cli({"infer", dir.file("m.lbm"), dir.file("not.jpg")});
  EXPECT_EQ(not_jpeg.status, 2) << not_jpeg.output;
  EXPECT_NE(not_jpeg.output.find("not.jpg: not a JPEG file"), std::string::npos) << not_jpeg.output;
}

TEST_F(ExportInferCli, BadFilesAndModelsWithoutAnImagePipelineFailWithStatus2) {
  lowbit::testing::TempDir dir;
  dir.write("bad.lbm", "LOWBITM");
  const auto truncated = lowbit::testing::run_cli({"infer", dir.file("bad.lbm"), first_images(1)[0]});
  EXPECT_EQ(truncated.status, 2) << truncated.output;
  EXPECT_NE(truncated.output.find("lowbit: error: " + dir.file("bad.lbm") + ": "), std::string::npos) << truncated.output;
  const auto missing = lowbit::testing::run_cli({"infer", dir.file("none.lbm"), first_images(1)[0]});
  EXPECT_EQ(missing.status, 2) << missing.output;
  EXPECT_NE(missing.output.find(dir.file("none.lbm") + ": no such file"), std::string::npos) << missing.output;

  dir.write("fm.yaml", "name: fm\ndata: {dataset: fashion_mnist}\n"
                       "model: {name: small_cnn, channels: [8, 16], weight_quantizer: {name: xnor},"
                       " input_quantizer: {name: sign}}\n"
                       "stages: [{epochs: 1}]\n");
  const auto no_folder = lowbit::testing::run_cli({"export", dir.file("fm.yaml"), "-o", dir.file("missing/fm.lbm")});
  EXPECT_EQ(no_folder.status, 2) << no_folder.output;
  EXPECT_NE(no_folder.output.find("fm.lbm: no folder " + dir.file("missing") + " to write it in"), std::string::npos)
      << no_folder.output;
  const auto no_weights = lowbit::testing::run_cli({"export", dir.file("fm.yaml"), "-o", dir.file("fm.lbm")});
  EXPECT_EQ(no_weights.status, 2) << no_weights.output;
  EXPECT_NE(no_weights.output.find("export needs --checkpoint or the recipe's model.init"), std::string::npos)
      << no_weights.output;
  EXPECT_FALSE(lowbit::util::file_exists(dir.file("fm.lbm")));

  const auto recipe = lowbit::engine::parse_recipe(dir.file("fm.yaml"));
  auto network = lowbit::engine::build_network(recipe, 0);
  lowbit::deploy::ModelInput input;
  input.channels = 1;
  input.height = input.width = 28;
  lowbit::deploy::write_lbm(dir.file("fm.lbm"), lowbit::deploy::export_network(*network, "small_cnn", input));
  const auto no_pipeline = lowbit::testing::run_cli({"infer", dir.file("fm.lbm"), first_images(1)[0]});
  EXPECT_EQ(no_pipeline.status, 2) << no_pipeline.output;
  EXPECT_NE(no_pipeline.output.find("fm.lbm: this model's input (1x28x28) has no image pipeline"), std::string::npos)
      << no_pipeline.output;
}

}  // namespace export_infer_cli_test
