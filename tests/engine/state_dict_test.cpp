// Reading state dicts from torch.save files: Python's data.pkl (engine/python_pickles.h) in the
// zip container that torch.save writes (the same PyTorchStreamWriter), files from
// torch::pickle_save, which torch.load reads, and the errors for files that are not state dicts.
#include <lowbit/csrc/engine/checkpoint/state_dict.h>

#include <gtest/gtest.h>

#include <caffe2/serialize/inline_container.h>
#include <torch/torch.h>

#include "engine/python_pickles.h"
#include "support/error_of.h"
#include "support/temp_dir.h"

#include <fstream>

using lowbit::engine::read_pytorch_state_dict;
using lowbit::testing::TempDir;

using lowbit::testing::error_of;

namespace {

template <size_t N>
std::string literal_bytes(const char (&literal)[N]) {
  return {literal, N - 1};
}

std::string raw(const at::Tensor& t) { return {static_cast<const char*>(t.data_ptr()), t.nbytes()}; }

// A torch.save archive holding `pickle` and the storages of python_pickles.h.
void write_python_save(const std::string& path, const std::string& pickle) {
  caffe2::serialize::PyTorchStreamWriter writer(path);
  writer.writeRecord("data.pkl", pickle.data(), pickle.size());
  writer.writeRecord("byteorder", "little", 6);
  const std::vector<std::pair<std::string, at::Tensor>> storages = {{"0", torch::tensor({1.f, 2.f, 3.f, 4.f})},
                                                                     {"1", torch::tensor({5.f, 6.f})}};
  for (const auto& [key, values] : storages) {
    const auto data = raw(values);
    writer.writeRecord("data/" + key, data.data(), data.size());
  }
}

void write_pickle_save(const std::string& path, const c10::IValue& value) {
  const auto data = torch::pickle_save(value);
  std::ofstream(path, std::ios::binary).write(data.data(), static_cast<std::streamsize>(data.size()));
}

c10::Dict<std::string, at::Tensor> tensors(const std::vector<std::pair<std::string, at::Tensor>>& items) {
  c10::Dict<std::string, at::Tensor> dict;
  for (const auto& [key, value] : items) dict.insert(key, value);
  return dict;
}

// A dict of mixed values, as a training checkpoint.
c10::impl::GenericDict checkpoint_dict() { return c10::impl::GenericDict(c10::StringType::get(), c10::AnyType::get()); }

}  // namespace

TEST(PyTorchStateDict, ReadsPythonTorchSaveOfAStateDict) {
  TempDir dir;
  write_python_save(dir.file("tiny.pt"), literal_bytes(lowbit::testing::python::kStateDict));
  const auto sd = read_pytorch_state_dict(dir.file("tiny.pt"));
  EXPECT_EQ(sd.tensors.keys(), (std::vector<std::string>{"weight", "bias"}));
  EXPECT_TRUE(torch::equal(sd.tensors["weight"], torch::tensor({{1.f, 2.f}, {3.f, 4.f}})));
  EXPECT_TRUE(torch::equal(sd.tensors["bias"], torch::tensor({5.f, 6.f})));
  EXPECT_EQ(sd.entry, "");
  EXPECT_FALSE(sd.module_prefix_removed);
  EXPECT_TRUE(sd.skipped.empty());
}

TEST(PyTorchStateDict, TrainingCheckpointUsesItsModelEntry) {
  TempDir dir;
  write_python_save(dir.file("checkpoint.pth"), literal_bytes(lowbit::testing::python::kCheckpoint));
  const auto sd = read_pytorch_state_dict(dir.file("checkpoint.pth"));
  EXPECT_EQ(sd.entry, "model");
  EXPECT_EQ(sd.tensors.keys(), (std::vector<std::string>{"weight", "bias"}));
  EXPECT_TRUE(sd.skipped.empty());  // "epoch" and "args" sit beside the entry, not in it
}

TEST(PyTorchStateDict, UnknownEntryIsNamedWithALikelyOne) {
  TempDir dir;
  write_python_save(dir.file("checkpoint.pth"), literal_bytes(lowbit::testing::python::kCheckpoint));
  const auto msg = error_of([&] { read_pytorch_state_dict(dir.file("checkpoint.pth"), "modle"); });
  EXPECT_NE(msg.find(dir.file("checkpoint.pth") + ": no entry 'modle' (did you mean 'model'?); the top level holds "
                                                   "model, epoch, args"),
            std::string::npos)
      << msg;
  const auto not_dict = error_of([&] { read_pytorch_state_dict(dir.file("checkpoint.pth"), "args"); });
  EXPECT_NE(not_dict.find("entry 'args' holds a Python argparse.Namespace, not a dict of tensors"), std::string::npos)
      << not_dict;
}

TEST(PyTorchStateDict, PickleSaveKeepsOrderDtypesAndSharedStorage) {
  TempDir dir;
  const auto base = torch::arange(12, torch::kFloat);
  write_pickle_save(dir.file("sd.pt"), tensors({{"z.half", torch::tensor({1.5, -2.0}, torch::kHalf)},
                                                {"a.bf16", torch::tensor({0.5}, torch::kBFloat16)},
                                                {"bn.num_batches_tracked", torch::tensor(7, torch::kLong)},
                                                {"quantizer.initialized", torch::tensor(true)},
                                                {"view", base.slice(0, 2, 8).view({2, 3})},
                                                {"strided", base.slice(0, 0, 12, 2)}}));
  const auto sd = read_pytorch_state_dict(dir.file("sd.pt"));
  EXPECT_EQ(sd.tensors.keys(), (std::vector<std::string>{"z.half", "a.bf16", "bn.num_batches_tracked",
                                                         "quantizer.initialized", "view", "strided"}));
  EXPECT_TRUE(torch::equal(sd.tensors["z.half"], torch::tensor({1.5, -2.0}, torch::kHalf)));
  EXPECT_TRUE(torch::equal(sd.tensors["a.bf16"], torch::tensor({0.5}, torch::kBFloat16)));
  EXPECT_EQ(sd.tensors["bn.num_batches_tracked"].dim(), 0);
  EXPECT_EQ(sd.tensors["bn.num_batches_tracked"].item<int64_t>(), 7);
  EXPECT_TRUE(sd.tensors["quantizer.initialized"].item<bool>());
  EXPECT_TRUE(torch::equal(sd.tensors["view"], base.slice(0, 2, 8).view({2, 3})));
  EXPECT_TRUE(torch::equal(sd.tensors["strided"], base.slice(0, 0, 12, 2)));
  EXPECT_TRUE(sd.tensors["view"].is_alias_of(sd.tensors["strided"]));
}

TEST(PyTorchStateDict, StateDictEntryComesFirst) {
  TempDir dir;
  auto checkpoint = checkpoint_dict();
  checkpoint.insert("model", tensors({{"other", torch::ones(1)}}));
  checkpoint.insert("state_dict", tensors({{"w", torch::ones(2)}}));
  checkpoint.insert("epoch", 5);
  write_pickle_save(dir.file("lightning.ckpt"), checkpoint);
  const auto sd = read_pytorch_state_dict(dir.file("lightning.ckpt"));
  EXPECT_EQ(sd.entry, "state_dict");
  EXPECT_EQ(sd.tensors.keys(), std::vector<std::string>{"w"});
  EXPECT_EQ(read_pytorch_state_dict(dir.file("lightning.ckpt"), "model").tensors.keys(),
            std::vector<std::string>{"other"});
}

TEST(PyTorchStateDict, DataParallelPrefixIsRemovedOnlyFromEveryKey) {
  TempDir dir;
  write_pickle_save(dir.file("ddp.pt"), tensors({{"module.conv.weight", torch::ones(1)}, {"module.fc.bias", torch::ones(1)}}));
  const auto sd = read_pytorch_state_dict(dir.file("ddp.pt"));
  EXPECT_TRUE(sd.module_prefix_removed);
  EXPECT_EQ(sd.tensors.keys(), (std::vector<std::string>{"conv.weight", "fc.bias"}));

  write_pickle_save(dir.file("mixed.pt"), tensors({{"module.conv.weight", torch::ones(1)}, {"fc.bias", torch::ones(1)}}));
  const auto mixed = read_pytorch_state_dict(dir.file("mixed.pt"));
  EXPECT_FALSE(mixed.module_prefix_removed);
  EXPECT_EQ(mixed.tensors.keys(), (std::vector<std::string>{"module.conv.weight", "fc.bias"}));
}

TEST(PyTorchStateDict, NonTensorValuesAreSkippedAndListed) {
  TempDir dir;
  auto flat = checkpoint_dict();
  flat.insert("w", torch::ones(2));
  flat.insert("epoch", 3);
  flat.insert("arch", "resnet18");
  write_pickle_save(dir.file("flat.pt"), flat);
  const auto sd = read_pytorch_state_dict(dir.file("flat.pt"));
  EXPECT_EQ(sd.tensors.keys(), std::vector<std::string>{"w"});
  EXPECT_EQ(sd.skipped, (std::vector<std::string>{"epoch", "arch"}));
}

TEST(PyTorchStateDict, DictWithoutTensorsAsksForTheEntry) {
  TempDir dir;
  auto both = checkpoint_dict();
  both.insert("teacher", tensors({{"w", torch::ones(1)}}));
  both.insert("student", tensors({{"w", torch::ones(1)}}));
  write_pickle_save(dir.file("both.pt"), both);
  const auto msg = error_of([&] { read_pytorch_state_dict(dir.file("both.pt")); });
  EXPECT_NE(msg.find(dir.file("both.pt") + ": holds no tensors (keys: teacher, student); name the entry"),
            std::string::npos)
      << msg;
  EXPECT_EQ(read_pytorch_state_dict(dir.file("both.pt"), "student").tensors.size(), 1u);
}

TEST(PyTorchStateDict, NotADictIsNamed) {
  TempDir dir;
  write_pickle_save(dir.file("list.pt"), c10::List<at::Tensor>({torch::ones(1)}));
  const auto msg = error_of([&] { read_pytorch_state_dict(dir.file("list.pt")); });
  EXPECT_NE(msg.find(dir.file("list.pt") + ": holds a list, not a dict of tensors"), std::string::npos) << msg;
}

TEST(PyTorchStateDict, PickledModelObjectIsExplained) {
  TempDir dir;
  write_python_save(dir.file("model.pt"), "\x80\x02" "ctorch.nn.modules.linear\nLinear\n)\x81}b.");
  const auto msg = error_of([&] { read_pytorch_state_dict(dir.file("model.pt")); });
  EXPECT_NE(msg.find("holds a Python torch.nn.modules.linear.Linear, not a dict of tensors (torch.save(model) "
                     "pickles the Python object; save model.state_dict() instead)"),
            std::string::npos)
      << msg;
}

TEST(TorchSaveFile, MissingFileIsNamed) {
  const auto msg = error_of([] { read_pytorch_state_dict("/nonexistent/resnet18.pth"); });
  EXPECT_NE(msg.find("/nonexistent/resnet18.pth: cannot open (No such file or directory)"), std::string::npos) << msg;
}

TEST(TorchSaveFile, GarbageIsNamedWithItsFirstBytes) {
  TempDir dir;
  dir.write("notes.pth", "hello world");
  const auto msg = error_of([&] { read_pytorch_state_dict(dir.file("notes.pth")); });
  EXPECT_NE(msg.find(dir.file("notes.pth") + ": not a torch.save file (starts with 68 65 6c 6c; expected a zip archive"),
            std::string::npos)
      << msg;
}

TEST(TorchSaveFile, TruncatedArchiveIsNamed) {
  TempDir dir;
  write_pickle_save(dir.file("full.pt"), tensors({{"w", torch::ones(100)}}));
  std::ifstream in(dir.file("full.pt"), std::ios::binary);
  const std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  dir.write("cut.pt", data.substr(0, data.size() / 2));
  const auto msg = error_of([&] { read_pytorch_state_dict(dir.file("cut.pt")); });
  EXPECT_NE(msg.find(dir.file("cut.pt") + ": not a readable zip archive, truncated or corrupt?"), std::string::npos)
      << msg;
}

TEST(TorchSaveFile, LegacyFormatIsNamed) {
  TempDir dir;
  dir.write("old.pth", std::string("\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.", 15));
  const auto msg = error_of([&] { read_pytorch_state_dict(dir.file("old.pth")); });
  EXPECT_NE(msg.find(dir.file("old.pth") + ": written in torch.save's legacy format"), std::string::npos) << msg;
}

TEST(TorchSaveFile, TorchScriptArchiveIsNamed) {
  TempDir dir;
  torch::save(torch::nn::Linear(2, 2), dir.file("linear.pt"));
  const auto msg = error_of([&] { read_pytorch_state_dict(dir.file("linear.pt")); });
  EXPECT_NE(msg.find(dir.file("linear.pt") + ": a TorchScript archive (torch.jit.save, or C++ torch::save)"),
            std::string::npos)
      << msg;
}

TEST(TorchSaveFile, CorruptPickleIsNamed) {
  TempDir dir;
  write_python_save(dir.file("bad.pt"), literal_bytes(lowbit::testing::python::kStateDict).substr(0, 40));
  const auto msg = error_of([&] { read_pytorch_state_dict(dir.file("bad.pt")); });
  EXPECT_NE(msg.find(dir.file("bad.pt") + ": cannot read data.pkl: pickle offset 34: truncated"), std::string::npos)
      << msg;
}
