#include <lowbit/modules/quant/registry.h>

#include <lowbit/csrc/util/registry.h>

namespace lowbit::quant {
namespace {

struct Entry {
  Factory factory;
  ChannelState channel_state;
};

util::Registry<Entry>& registry() {
  static util::Registry<Entry> quantizers("quantizer");
  return quantizers;
}

}  // namespace

bool register_quantizer(const std::string& name, Factory factory, ChannelState channel_state) {
  return registry().add(name, Entry{std::move(factory), channel_state});
}

bool takes_channels(const std::string& name) {
  return registry().contains(name) && registry().get(name).channel_state != ChannelState::None;
}

bool takes_channel_dim(const std::string& name) {
  return registry().contains(name) && registry().get(name).channel_state == ChannelState::ChannelsAndDim;
}

Quantizer make(const std::string& name, const Params& params) {
  const auto& factory = registry().get(name).factory;
  ParamReader reader("quantizer '" + name + "'", params);
  auto quantizer = factory(reader);
  reader.finish();
  return quantizer;
}

std::vector<std::string> registered_quantizers() { return registry().names(); }

double read_latent_clip(ParamReader& p) {
  const double clip = p.get<double>("latent_clip", 0.0);
  p.check(clip >= 0, "latent_clip", "expected a non-negative number (0: off), got " + c10::str(clip));
  return clip;
}

}  // namespace lowbit::quant
