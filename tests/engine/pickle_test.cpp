// engine/pickle.h on bytes that Python wrote: torch.save's data.pkl (engine/python_pickles.h) and
// plain pickle.dumps output, plus hand-made opcodes for the errors.
#include <lowbit/csrc/engine/checkpoint/pickle.h>

#include <gtest/gtest.h>

#include <torch/torch.h>

#include "engine/python_pickles.h"

namespace {

using lowbit::engine::describe;
using lowbit::engine::python_class;
using lowbit::engine::unpickle;

template <size_t N>
std::string_view bytes(const char (&literal)[N]) {
  return {literal, N - 1};
}

// The storages of python_pickles.h: "0" the weight's values, "1" the bias's.
at::Tensor tiny_storage(at::ScalarType dtype, const std::string& key, int64_t numel) {
  EXPECT_EQ(dtype, at::kFloat);
  EXPECT_EQ(numel, key == "0" ? 4 : 2);
  return key == "0" ? torch::tensor({1.f, 2.f, 3.f, 4.f}) : torch::tensor({5.f, 6.f});
}

at::Tensor no_storage(at::ScalarType, const std::string& key, int64_t) {
  ADD_FAILURE() << "unexpected storage " << key;
  return {};
}

std::string error_of(std::string_view pickle) {
  try {
    unpickle(pickle, no_storage);
  } catch (const c10::Error& e) {
    return e.msg();
  }
  return "(no error)";
}

void expect_tiny_state_dict(const c10::IValue& value) {
  ASSERT_TRUE(value.isGenericDict()) << describe(value);
  const auto dict = value.toGenericDict();
  ASSERT_EQ(dict.size(), 2u);
  auto it = dict.begin();
  EXPECT_EQ(it->key().toStringRef(), "weight");
  EXPECT_TRUE(torch::equal(it->value().toTensor(), torch::tensor({{1.f, 2.f}, {3.f, 4.f}})));
  ++it;
  EXPECT_EQ(it->key().toStringRef(), "bias");
  EXPECT_TRUE(torch::equal(it->value().toTensor(), torch::tensor({5.f, 6.f})));
}

}  // namespace

TEST(Unpickle, StateDictIsAnOrderedDictOfTensors) {
  expect_tiny_state_dict(unpickle(bytes(lowbit::testing::python::kStateDict), tiny_storage));
}

TEST(Unpickle, Protocol4ReadsTheSame) {
  expect_tiny_state_dict(unpickle(bytes(lowbit::testing::python::kStateDictProtocol4), tiny_storage));
}

TEST(Unpickle, CheckpointKeepsValuesAndMakesOtherObjectsOpaque) {
  const auto dict = unpickle(bytes(lowbit::testing::python::kCheckpoint), tiny_storage).toGenericDict();
  expect_tiny_state_dict(dict.at("model"));
  EXPECT_EQ(dict.at("epoch").toInt(), 3);
  EXPECT_EQ(python_class(dict.at("args")), "argparse.Namespace");
  EXPECT_EQ(describe(dict.at("args")), "a Python argparse.Namespace");
}

TEST(Unpickle, PlainPythonValues) {
  // pickle.dumps([None, True, False, -1, 255, 65535, -2**40, 2**63-1, 1.5, 'é', (), (1,),
  //               (1, 2, 3, 4), {'k': [0.25]}], protocol=2)
  constexpr char pickle[] =
      "\x80\x02\x5d\x71\x00\x28\x4e\x88\x89\x4a\xff\xff\xff\xff\x4b\xff\x4d\xff\xff\x8a\x06\x00\x00\x00"
      "\x00\x00\xff\x8a\x08\xff\xff\xff\xff\xff\xff\xff\x7f\x47\x3f\xf8\x00\x00\x00\x00\x00\x00\x58\x02"
      "\x00\x00\x00\xc3\xa9\x71\x01\x29\x4b\x01\x85\x71\x02\x28\x4b\x01\x4b\x02\x4b\x03\x4b\x04\x74\x71"
      "\x03\x7d\x71\x04\x58\x01\x00\x00\x00\x6b\x71\x05\x5d\x71\x06\x47\x3f\xd0\x00\x00\x00\x00\x00\x00"
      "\x61\x73\x65\x2e";
  const auto value = unpickle(bytes(pickle), no_storage);
  const auto list = value.toListRef();
  ASSERT_EQ(list.size(), 14u);
  EXPECT_TRUE(list[0].isNone());
  EXPECT_TRUE(list[1].toBool());
  EXPECT_FALSE(list[2].toBool());
  EXPECT_EQ(list[3].toInt(), -1);
  EXPECT_EQ(list[4].toInt(), 255);
  EXPECT_EQ(list[5].toInt(), 65535);
  EXPECT_EQ(list[6].toInt(), -(int64_t{1} << 40));
  EXPECT_EQ(list[7].toInt(), std::numeric_limits<int64_t>::max());
  EXPECT_EQ(list[8].toDouble(), 1.5);
  EXPECT_EQ(list[9].toStringRef(), "\xc3\xa9");
  EXPECT_EQ(list[10].toTupleRef().elements().size(), 0u);
  EXPECT_EQ(list[11].toTupleRef().elements()[0].toInt(), 1);
  EXPECT_EQ(list[12].toTupleRef().elements()[3].toInt(), 4);
  EXPECT_EQ(list[13].toGenericDict().at("k").toListRef()[0].toDouble(), 0.25);
}

TEST(Unpickle, PickledModuleIsAnOpaqueObject) {
  // torch.save(nn.Linear(2, 1)) in outline: NEWOBJ of the class, then BUILD with its __dict__.
  const auto value = unpickle("\x80\x02" "ctorch.nn.modules.linear\nLinear\n)\x81}b.", no_storage);
  EXPECT_EQ(python_class(value), "torch.nn.modules.linear.Linear");
}

TEST(Unpickle, TruncatedPickleNamesTheOffset) {
  const auto full = bytes(lowbit::testing::python::kStateDict);
  EXPECT_NE(error_of(full.substr(0, 40)).find("pickle offset 34: truncated: needs 6 more bytes, 1 left"), std::string::npos)
      << error_of(full.substr(0, 40));
  EXPECT_NE(error_of("\x80\x02}").find("pickle offset 3: truncated (no STOP opcode)"), std::string::npos);
}

TEST(Unpickle, UnsupportedOpcodeIsNamed) {
  // INT, a text opcode of protocol 0 that torch.save (protocol 2) never writes.
  const auto msg = error_of("\x80\x02I1\n.");
  EXPECT_NE(msg.find("pickle offset 2: unsupported opcode 0x49"), std::string::npos) << msg;
}

TEST(Unpickle, StorageOfUnknownTypeIsNamed) {
  // BINPERSID of ('storage', torch.FancyStorage, '0', 'cpu', 1)
  constexpr char pickle[] = "\x80\x02(X\x07\x00\x00\x00" "storage" "ctorch\nFancyStorage\n" "X\x01\x00\x00\x00" "0"
                            "X\x03\x00\x00\x00" "cpu" "K\x01tQ.";
  const auto msg = error_of(bytes(pickle));
  EXPECT_NE(msg.find("storage of unsupported type a Python torch.FancyStorage"), std::string::npos) << msg;
}
