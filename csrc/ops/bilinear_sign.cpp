#include <lowbit/csrc/ops/bilinear_sign.h>

#include <lowbit/csrc/kernels/weight_quantizers.h>
#include <lowbit/csrc/ops/loss_scale.h>

#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/custom_class.h>

#include <optional>
#include <utility>

namespace lowbit::ops {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Where RBONN's recurrence (ops/bilinear_sign.h) hands dL/dW~ / S: held by the graph until its backward.
struct RecordHolder : torch::CustomClassHolder {
  explicit RecordHolder(GradientRecord f) : record(std::move(f)) {}
  GradientRecord record;
};

class BilinearSignFunction : public torch::autograd::Function<BilinearSignFunction> {
 public:
  // `gamma`: [C] in w's dtype, on w's device; the recurrent shift's `c` (an input: u trains through
  // it) and `p`, or an empty c and no p (autograd inputs must be defined tensors).
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& w, const at::Tensor& scale, const at::Tensor& gamma,
                            const at::Tensor& c, const std::optional<at::Tensor>& p, double kappa,
                            bool scale_sign_grad, GradientRecord record) {
    ctx->saved_data["kappa"] = kappa;
    ctx->saved_data["scale_sign_grad"] = scale_sign_grad;
    // P is a constant: no version check, no gradient, and a caller replacing its tensor later (set_data)
    // leaves this one alone.
    ctx->saved_data["p"] = p ? std::optional<at::Tensor>(p->detach()) : std::nullopt;
    if (record) {
      ctx->saved_data["record"] = c10::IValue::make_capsule(c10::make_intrusive<RecordHolder>(std::move(record)));
    }
    ctx->save_for_backward({w, scale, gamma, c});
    const auto flat_c = p ? std::optional<at::Tensor>(c.detach().flatten()) : std::nullopt;
    return kernels::bilinear_sign_forward(w, scale.detach().flatten().abs(), kappa, flat_c, p);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad) {
    const auto saved = ctx->get_saved_variables();
    const auto &w = saved[0], &scale = saved[1], &gamma = saved[2], &c = saved[3];
    const auto s = scale.flatten();
    const auto p = ctx->saved_data["p"].toOptional<at::Tensor>();
    const bool records = ctx->saved_data.count("record") > 0;
    // The gamma term is the backward's own: scaled as the chain rule scales g; the record is unscaled
    // (ops/loss_scale.h).
    const double loss = loss_scale();
    auto [grad_w, grad_alpha, grad_c, recorded] = kernels::bilinear_sign_backward(
        grad[0], w, s.abs(), loss == 1 ? gamma : gamma * loss, ctx->saved_data["kappa"].toDouble(),
        p ? std::optional<at::Tensor>(c.detach().flatten()) : std::nullopt, p, records ? loss : 0.0);
    if (records) {
      c10::static_intrusive_pointer_cast<RecordHolder>(ctx->saved_data["record"].toCapsule())->record(recorded);
    }
    if (ctx->saved_data["scale_sign_grad"].toBool()) grad_alpha = grad_alpha * at::sign(s);
    return {grad_w,       grad_alpha.reshape(scale.sizes()),
            at::Tensor(), p ? grad_c.reshape(c.sizes()) : at::Tensor(),
            at::Tensor(), at::Tensor(),
            at::Tensor(), at::Tensor()};
  }
};

}  // namespace

at::Tensor output_channel_view(const at::Tensor& values, int64_t ndim) {
  std::vector<int64_t> shape(ndim, 1);
  shape[0] = values.numel();
  return values.view(shape);
}

at::Tensor bilinear_sign(const at::Tensor& w, const at::Tensor& scale, const at::Tensor& gamma,
                         const BilinearSignOptions& options) {
  return recurrent_bilinear_sign(w, scale, gamma, options, {});
}

at::Tensor recurrent_bilinear_sign(const at::Tensor& w, const at::Tensor& scale, const at::Tensor& gamma,
                                   const BilinearSignOptions& options, const Recurrence& recurrence) {
  TORCH_CHECK(w.dim() >= 2, "bilinear sign: expects a weight [C_out, ...] with at least 2 dims, got shape ", w.sizes());
  TORCH_CHECK(scale.numel() == w.size(0), "bilinear sign: the scale has ", scale.numel(),
              " elements, expected one per output channel of the weight ", w.sizes());
  TORCH_CHECK(gamma.numel() == 1 || gamma.numel() == w.size(0), "bilinear sign: gamma has ", gamma.numel(),
              " elements, expected 1 or one per output channel of the weight ", w.sizes());
  TORCH_CHECK_VALUE(options.kappa() > 0, "bilinear sign: kappa must be > 0, got ", options.kappa());
  // The shift's shapes are the kernels' to check (kernels/arguments.h check_shift).
  const bool shifted = recurrence.c.defined();
  TORCH_CHECK(shifted == recurrence.p.defined(), "bilinear sign: the recurrent shift takes both c and P, got only ",
              shifted ? "c" : "P");
  const auto gamma_per_channel = gamma.detach().flatten().to(w.device(), w.scalar_type()).expand({w.size(0)});
  return BilinearSignFunction::apply(w, scale, gamma_per_channel, shifted ? recurrence.c : at::empty({0}, w.options()),
                                     shifted ? std::optional<at::Tensor>(recurrence.p) : std::nullopt, options.kappa(),
                                     options.scale_sign_grad(), recurrence.record);
}

at::Tensor bilinear_sign(const at::Tensor& w, const at::Tensor& scale, double gamma, const BilinearSignOptions& options) {
  return bilinear_sign(w, scale, at::scalar_tensor(gamma, at::kDouble), options);
}

}  // namespace lowbit::ops
