// The warm-up of every schedule (schedule.h): from warmup_lr, and timm's placement of it
// (warmup_prefix false) that DeiT's recipes train with.
#include <lowbit/csrc/engine/optim/schedule.h>

#include <gtest/gtest.h>

using lowbit::engine::Schedule;
using lowbit::engine::ScheduleConfig;
using lowbit::engine::ScheduleSpan;

TEST(ScheduleWarmup, StartsFromWarmupLrAndReachesLr) {
  ScheduleConfig c;
  c.name = "cosine";
  c.warmup_epochs = 5;
  c.warmup_lr = 1e-6;
  const double lr = 5e-4;
  const Schedule s(c, ScheduleSpan{lr, 100, 5});
  EXPECT_NEAR(s.factor(0) * lr, 1e-6, 1e-18);
  EXPECT_NEAR(s.factor(2) * lr, 1e-6 + 2 * (lr - 1e-6) / 5, 1e-18);
  EXPECT_NEAR(s.factor(5) * lr, lr, 1e-18);  // with warmup_prefix the cosine starts here
  c.warmup_lr = 0;
  EXPECT_DOUBLE_EQ(Schedule(c, ScheduleSpan{lr, 100, 5}).factor(2), 0.4);  // from 0, as before
}

// timm.scheduler.CosineLRScheduler(t_initial=10, lr_min=1e-5, warmup_t=3, warmup_lr_init=1e-6),
// base lr 5e-4, _get_lr(e) for e = 0..10 (/tmp/refenv, timm 1.0): the cosine spans all 10 epochs.
TEST(ScheduleWarmup, WithoutPrefixMatchesTimmCosine) {
  ScheduleConfig c;
  c.name = "cosine";
  c.per = "epoch";
  c.warmup_epochs = 3;
  c.warmup_lr = 1e-6;
  c.warmup_prefix = false;
  c.options = {{"min_lr", 1e-5}};
  const Schedule s(c, ScheduleSpan{5e-4, 10, 3});
  const double timm[] = {1e-06, 0.00016733333333333333, 0.0003336666666666667, 0.00039900738681165594,
                         0.00033070916362186215, 0.000255, 0.0001792908363781379, 0.0001109926131883441,
                         5.67908363781379e-05, 2.1991153507687383e-05, 1e-05};
  for (int e = 0; e <= 10; ++e) EXPECT_NEAR(s.factor(e + 0.5) * 5e-4, timm[e], 1e-17) << "epoch " << e;
}

// Official loops step their schedulers at other times than lowbit's "epoch e trains at e".
TEST(ScheduleEpochOffset, ReplaysWhereOfficialLoopsStepTheirSchedulers) {
  ScheduleConfig c;
  c.name = "linear";
  c.per = "epoch";
  c.epoch_offset = 1;  // ReActNet / Bi-Real: LambdaLR(1 - step / E) stepped before each epoch trains
  const Schedule reactnet(c, ScheduleSpan{1e-3, 4, 0});
  const double lambda_lr[] = {0.75, 0.5, 0.25, 0.0};  // torch's LambdaLR after e + 1 steps
  for (int e = 0; e < 4; ++e) EXPECT_DOUBLE_EQ(reactnet.factor(e + 0.5), lambda_lr[e]) << "epoch " << e;

  // timm's lr_scheduler.step(epoch) after each epoch: epoch e >= 1 trains at the value for e - 1,
  // epoch 0 at the value for 0 (the warm-up's start), here against the timm values above.
  c.name = "cosine";
  c.epoch_offset = -1;
  c.warmup_epochs = 3;
  c.warmup_lr = 1e-6;
  c.warmup_prefix = false;
  c.options = {{"min_lr", 1e-5}};
  const Schedule deit(c, ScheduleSpan{5e-4, 10, 3});
  const double timm[] = {1e-06, 0.00016733333333333333, 0.0003336666666666667, 0.00039900738681165594};
  EXPECT_NEAR(deit.factor(0.5) * 5e-4, timm[0], 1e-17);
  for (int e = 1; e <= 4; ++e) EXPECT_NEAR(deit.factor(e + 0.5) * 5e-4, timm[e - 1], 1e-17) << "epoch " << e;

  c.per = "step";  // whole-epoch shifts only
  EXPECT_THROW(Schedule(c, ScheduleSpan{5e-4, 10, 3}), c10::ValueError);
}
