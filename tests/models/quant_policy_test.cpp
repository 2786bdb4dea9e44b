// The QuantPolicy fills in the channel count for channel quantizers and per-channel specs.
#include <lowbit/modules/models/quant_policy.h>
#include <lowbit/modules/quant/qvit_act.h>
#include <lowbit/modules/quant/rsign.h>

#include <gtest/gtest.h>
#include <torch/torch.h>

TEST(QuantPolicy, ChannelQuantizerGetsTheLayersChannels) {
  lowbit::models::QuantPolicy policy;
  policy.input = {"rsign", {}};
  auto q = policy.input_quantizer(false, 12);
  auto* rsign = dynamic_cast<lowbit::quant::RSignImpl*>(q.get());
  ASSERT_NE(rsign, nullptr);
  EXPECT_EQ(rsign->bias.size(1), 12);
}

TEST(QuantPolicy, EndsStayFullPrecision) {
  lowbit::models::QuantPolicy policy;
  policy.input = {"rsign", {}};
  EXPECT_EQ(policy.input_quantizer(true, 12)->bits(), 32);
  policy.full_precision_ends = false;
  EXPECT_EQ(policy.input_quantizer(true, 12)->bits(), 1);
}

TEST(QuantPolicy, ChannelDimQuantizerGetsTheLayersAxis) {
  lowbit::models::QuantPolicy policy;
  policy.input = {"qvit_act", {{"bits", 4}}};
  auto tokens = policy.input_quantizer(false, 12, -1);  // a linear layer on [B, N, 12]
  auto* act = dynamic_cast<lowbit::quant::QvitActImpl*>(tokens.get());
  ASSERT_NE(act, nullptr);
  EXPECT_EQ(act->options.channels(), 12);
  EXPECT_EQ(act->options.channel_dim(), -1);
  auto conv = policy.input_quantizer(false, 3);  // a convolution's [B, 3, H, W]
  EXPECT_EQ(dynamic_cast<lowbit::quant::QvitActImpl*>(conv.get())->options.channel_dim(), 1);
}
