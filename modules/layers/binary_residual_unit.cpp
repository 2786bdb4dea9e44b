#include <lowbit/modules/layers/binary_residual_unit.h>

#include <lowbit/csrc/ops/batch_norm_rprelu.h>
#include <lowbit/csrc/util/suggest.h>
#include <lowbit/modules/layers/rprelu.h>
#include <lowbit/modules/taps/taps.h>

#include <torch/nn/functional/padding.h>
#include <torch/nn/functional/pooling.h>
#include <torch/nn/modules/pooling.h>

#include <sstream>
#include <vector>

namespace lowbit::layers {
namespace {

const std::vector<std::string> kShortcutNames = {"avgpool_conv", "conv", "zero_pad", "avgpool_repeat"};

}  // namespace

Shortcut parse_shortcut(const std::string& name) {
  return static_cast<Shortcut>(util::choose("shortcut", name, kShortcutNames));
}

std::string to_string(Shortcut shortcut) { return kShortcutNames.at(static_cast<size_t>(shortcut)); }

BinaryResidualUnitImpl::BinaryResidualUnitImpl(BinaryResidualUnitOptions options_) : options(std::move(options_)) {
  reset();
}

void BinaryResidualUnitImpl::reset() {
  const auto& o = options;
  TORCH_CHECK_VALUE(o.in_channels() > 0 && o.out_channels() > 0 && o.stride() > 0, describe(*this),
                    ": channels and stride must be positive");
  TORCH_CHECK_VALUE(o.shortcut() != Shortcut::ZeroPad || o.out_channels() >= o.in_channels(), describe(*this),
                    ": the zero_pad shortcut cannot reduce the channels (", o.in_channels(), " -> ", o.out_channels(),
                    "); use avgpool_conv or conv");
  TORCH_CHECK_VALUE(o.shortcut() != Shortcut::AvgPoolRepeat || o.out_channels() % o.in_channels() == 0, describe(*this),
                    ": the avgpool_repeat shortcut repeats the input's channels, so out_channels must be a multiple "
                    "of in_channels (", o.in_channels(), " -> ", o.out_channels(), ")");
  TORCH_CHECK_VALUE(o.kernel_size() == 3 || o.kernel_size() == 1, describe(*this), ": kernel_size must be 3 or 1, got ",
                    o.kernel_size());
  conv = register_module("conv", QConv2d(QConv2dOptions(o.in_channels(), o.out_channels(), o.kernel_size())
                                             .stride(o.stride())
                                             .padding(o.kernel_size() / 2)
                                             .bias(o.conv_bias())
                                             .weight_quantizer(o.weight_quantizer())
                                             .input_quantizer(o.input_quantizer())));
  bn = register_module("bn", BatchNorm(o.out_channels()));
  downsample = nullptr;
  const bool projects = o.stride() != 1 || o.in_channels() != o.out_channels();
  if (projects && (o.shortcut() == Shortcut::AvgPoolConv || o.shortcut() == Shortcut::Conv)) {
    const bool pool = o.shortcut() == Shortcut::AvgPoolConv;
    downsample = torch::nn::Sequential();
    if (pool) {
      downsample->push_back(torch::nn::AvgPool2d(
          torch::nn::AvgPool2dOptions(o.stride()).stride(o.stride()).ceil_mode(true).count_include_pad(false)));
    }
    downsample->push_back(QConv2d(QConv2dOptions(o.in_channels(), o.out_channels(), 1)
                                      .stride(pool ? 1 : o.stride())
                                      .bias(false)
                                      .weight_quantizer(o.shortcut_weight_quantizer())
                                      .input_quantizer(o.shortcut_input_quantizer())));
    downsample->push_back(BatchNorm(o.out_channels()));
    register_module("downsample", downsample);
  }
  activation = make_activation(o.activation(), o.out_channels());
  if (!activation.is_empty()) register_module("activation", activation.ptr());
}

torch::Tensor BinaryResidualUnitImpl::shortcut(const torch::Tensor& x) {
  if (downsample) return downsample->forward(x);
  const auto& o = options;
  if (o.stride() == 1 && o.in_channels() == o.out_channels()) return x;
  namespace F = torch::nn::functional;
  if (o.shortcut() == Shortcut::AvgPoolRepeat) {
    const auto pooled =
        o.stride() == 1
            ? x
            : F::avg_pool2d(
                  x, F::AvgPool2dFuncOptions(o.stride()).stride(o.stride()).ceil_mode(true).count_include_pad(false));
    return o.out_channels() == o.in_channels() ? pooled : pooled.repeat({1, o.out_channels() / o.in_channels(), 1, 1});
  }
  using torch::indexing::Slice;
  const auto subsampled = x.index({Slice(), Slice(), Slice(torch::indexing::None, torch::indexing::None, o.stride()),
                                   Slice(torch::indexing::None, torch::indexing::None, o.stride())});
  const int64_t extra = o.out_channels() - o.in_channels();
  return F::pad(subsampled, F::PadFuncOptions({0, 0, 0, 0, extra / 2, extra - extra / 2}));
}

torch::Tensor BinaryResidualUnitImpl::forward(const torch::Tensor& x) {
  TORCH_CHECK(x.dim() == 4 && x.size(1) == options.in_channels(), describe(*this), ": expected input [N, ",
              options.in_channels(), ", H, W], got shape ", x.sizes());
  const auto convolved = conv(x);
  if (!activation.is_empty() && activation.type_info() == typeid(RPReLUImpl)) {
    auto& rprelu = activation.get<RPReLUImpl>();
    // RPReLU takes the shortcut's addition into its fused op (csrc/ops/rprelu.h), and the batch
    // norm too where that normalises alone (csrc/ops/batch_norm_rprelu.h), written over the
    // convolution's output, unless a tap recorder holds it (the convolution publishes it).
    if (!bn->normalises_alone(convolved)) return rprelu.forward_sum(bn(convolved), shortcut(x));
    const ops::BatchNormState state{bn->weight,
                                    bn->bias,
                                    bn->running_mean,
                                    bn->running_var,
                                    bn->uses_batch_statistics(),
                                    bn->count_batch(),
                                    bn->options.eps()};
    return ops::batch_norm_rprelu(convolved, shortcut(x), state, rprelu.gamma, rprelu.beta, rprelu.zeta,
                                  /*overwrite_input=*/!taps::recording());
  }
  const auto branch = bn(convolved);
  const auto sum = branch + shortcut(x);
  return activation.is_empty() ? sum : activation.forward(sum);
}

void BinaryResidualUnitImpl::pretty_print(std::ostream& stream) const {
  stream << "lowbit::layers::BinaryResidualUnit(" << options.in_channels() << ", " << options.out_channels()
         << ", stride=" << options.stride() << (options.kernel_size() == 3 ? "" : ", kernel_size=1")
         << ", shortcut=" << to_string(options.shortcut()) << ", activation=" << to_string(options.activation()) << ")";
}

std::string describe(const BinaryResidualUnitImpl& unit) {
  std::ostringstream s;
  s << "BinaryResidualUnit(" << unit.options.in_channels() << "->" << unit.options.out_channels() << ", stride "
    << unit.options.stride() << ")";
  return s.str();
}

}  // namespace lowbit::layers
