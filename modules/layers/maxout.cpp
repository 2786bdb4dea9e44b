#include <lowbit/modules/layers/maxout.h>

#include <lowbit/csrc/util/shapes.h>

#include <torch/torch.h>

namespace lowbit::layers {

MaxoutImpl::MaxoutImpl(MaxoutOptions options_) : options(options_) {
  TORCH_CHECK_VALUE(options.channels() >= 1, "Maxout: channels must be >= 1, got ", options.channels());
  reset();
}

void MaxoutImpl::reset() {
  pos_scale = register_parameter("pos_scale", torch::full({options.channels()}, options.pos_init()));
  neg_scale = register_parameter("neg_scale", torch::full({options.channels()}, options.neg_init()));
}

torch::Tensor MaxoutImpl::forward(const torch::Tensor& x) {
  TORCH_CHECK(x.dim() >= 2 && x.size(1) == options.channels(), "Maxout(", options.channels(), "): expected input with ",
              options.channels(), " channels along dim 1, got shape ", x.sizes());
  return util::channel_view(pos_scale, x.dim()) * torch::relu(x) - util::channel_view(neg_scale, x.dim()) * torch::relu(-x);
}

void MaxoutImpl::pretty_print(std::ostream& stream) const {
  stream << "lowbit::layers::Maxout(" << options.channels() << ")";
}

}  // namespace lowbit::layers
