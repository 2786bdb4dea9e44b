#include <lowbit/modules/layers/qconv2d.h>

#include <lowbit/modules/layers/quantized_weights.h>
#include <lowbit/modules/taps/taps.h>

#include <torch/csrc/autograd/grad_mode.h>
#include <torch/nn/functional/conv.h>

#include <sstream>

namespace lowbit::layers {

QConv2dImpl::QConv2dImpl(QConv2dOptions options_) : options(std::move(options_)) { reset(); }

void QConv2dImpl::reset() {
  const auto& o = options;
  TORCH_CHECK_VALUE(o.in_channels() > 0 && o.out_channels() > 0 && o.groups() > 0,
                    "QConv2d: in_channels, out_channels and groups must be positive, got ", o.in_channels(), ", ",
                    o.out_channels(), ", ", o.groups());
  TORCH_CHECK_VALUE(o.in_channels() % o.groups() == 0 && o.out_channels() % o.groups() == 0, "QConv2d(",
                    o.in_channels(), "->", o.out_channels(), "): groups ", o.groups(),
                    " must divide both channel counts");
  weight = register_parameter(
      "weight", torch::empty({o.out_channels(), o.in_channels() / o.groups(), (*o.kernel_size())[0],
                              (*o.kernel_size())[1]}));
  bias = o.bias() ? register_parameter("bias", torch::empty({o.out_channels()})) : torch::Tensor();
  reset_parameters();
  std::tie(weight_quantizer, input_quantizer) =
      adopt_quantizers(*this, describe(*this), o.weight_quantizer(), o.input_quantizer());
}

void QConv2dImpl::reset_parameters() { init_like_torch(weight, bias); }

void QConv2dImpl::on_step_end() { quant::settle_latent_weight(*weight_quantizer, weight); }

torch::Tensor QConv2dImpl::forward(const torch::Tensor& input) {
  TORCH_CHECK(input.dim() == 4 && input.size(1) == options.in_channels(), describe(*this),
              ": expected input [N, ", options.in_channels(), ", H, W], got shape ", input.sizes());
  namespace F = torch::nn::functional;
  // Quantized operands kept for the backward in less than their values where their quantizers
  // allow (csrc/ops/kept_operands.h).
  const auto x = quantized_operand(*input_quantizer, input);
  const auto w = quantized_operand(*weight_quantizer, weight);
  const auto* padding = std::get_if<torch::ExpandingArray<2>>(&options.padding());
  auto output = padding && torch::GradMode::is_enabled() && any_compact(x, w)
                    ? ops::conv2d_of(x, w, bias,
                                     {at::IntArrayRef(options.stride()).vec(), at::IntArrayRef(*padding).vec(),
                                      at::IntArrayRef(options.dilation()).vec(), options.groups()})
                    : F::conv2d(x.values, w.values,
                                F::Conv2dFuncOptions()
                                    .bias(bias)
                                    .stride(options.stride())
                                    .padding(options.padding())
                                    .dilation(options.dilation())
                                    .groups(options.groups()));
  if (taps::recording()) taps::publish(*this, "output", output);
  return output;
}

void QConv2dImpl::pretty_print(std::ostream& stream) const {
  stream << "lowbit::layers::QConv2d(" << options.in_channels() << ", " << options.out_channels()
         << ", kernel_size=" << options.kernel_size() << ", stride=" << options.stride() << ")";
}

std::string describe(const QConv2dImpl& conv) {
  std::ostringstream s;
  s << "QConv2d(" << conv.options.in_channels() << "->" << conv.options.out_channels() << ", "
    << (*conv.options.kernel_size())[0] << "x" << (*conv.options.kernel_size())[1] << ")";
  return s.str();
}

}  // namespace lowbit::layers
