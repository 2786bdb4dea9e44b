#include <lowbit/csrc/util/threads.h>

#include <gtest/gtest.h>

#include <ATen/Parallel.h>

#include <thread>

TEST(Threads, OneTorchThreadOnlyInTheCallingThread) {
  const int before = at::get_num_threads();
  if (before < 2) GTEST_SKIP() << "one torch thread already: a leak of use_one_torch_thread_here would not show";
  int inside = 0, sibling = 0;
  std::thread([&] {
    lowbit::util::use_one_torch_thread_here();
    inside = at::get_num_threads();
  }).join();
  std::thread([&] { sibling = at::get_num_threads(); }).join();
  EXPECT_EQ(inside, 1);
  EXPECT_EQ(sibling, before);
  EXPECT_EQ(at::get_num_threads(), before);
}
