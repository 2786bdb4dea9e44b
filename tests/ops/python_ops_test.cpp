// lowbit's operators from a Python program: tests/python/ops_from_python.py loads liblowbit into
// the PyPI torch lowbit is built against (scripts/setup's) with torch.ops.load_library and checks
// scaled_sign, shifted_sign and lsq_quantize forward and backward against the same formulas
// written with torch ops, and ternarize on meta tensors. Skips when that torch cannot be imported.

#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <sys/wait.h>

TEST(PythonOps, LoadedIntoPyTorchTheyMatchTheirFormulas) {
  const std::string command = "PYTHONPATH='" LOWBIT_TORCH_PYTHONPATH "' python3 -W ignore '" LOWBIT_SOURCE_DIR
                              "/tests/python/ops_from_python.py' '" LOWBIT_LIBRARY_PATH "' 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string output;
  char buffer[4096];
  for (size_t n; (n = fread(buffer, 1, sizeof(buffer), pipe)) > 0;) output.append(buffer, n);
  const int status = WEXITSTATUS(pclose(pipe));
  if (status == 77) GTEST_SKIP() << output;
  EXPECT_EQ(status, 0) << output;
  EXPECT_NE(output.find("all matched"), std::string::npos) << output;
  std::printf("%s", output.c_str());
}
