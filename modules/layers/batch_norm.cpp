#include <lowbit/modules/layers/batch_norm.h>

#include <lowbit/csrc/util/dtypes.h>

#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/nn/functional/batchnorm.h>
#include <torch/nn/init.h>

#include <cstdint>
#include <optional>

namespace lowbit::layers {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

std::vector<int64_t> non_channel_dims(const at::Tensor& x) {
  std::vector<int64_t> dims = {0};
  for (int64_t d = 2; d < x.dim(); ++d) dims.push_back(d);
  return dims;
}

// [C] viewed as [1, C, 1, ...] against an input of `ndim` dims.
at::Tensor per_channel(const at::Tensor& values, int64_t ndim) {
  std::vector<int64_t> shape(ndim, 1);
  shape[1] = values.numel();
  return values.view(shape);
}

class SyncBatchNormFunction : public torch::autograd::Function<SyncBatchNormFunction> {
 public:
  // Optional tensors, as an undefined Tensor cannot be an input of a Function. Without affine, the
  // backward's needs_input_grad(1), (2) are the running statistics' (edges count defined inputs
  // only), which never need one.
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& input,
                            const std::optional<at::Tensor>& weight_or_none,
                            const std::optional<at::Tensor>& bias_or_none,
                            const std::optional<at::Tensor>& running_mean_or_none,
                            const std::optional<at::Tensor>& running_var_or_none, double momentum, double eps,
                            hooks::Replicas* replicas) {
    const auto weight = weight_or_none.value_or(at::Tensor()), bias = bias_or_none.value_or(at::Tensor());
    auto running_mean = running_mean_or_none.value_or(at::Tensor());
    auto running_var = running_var_or_none.value_or(at::Tensor());
    const auto acc = util::at_least_float(input.scalar_type());
    const auto x = input.to(acc);
    const int64_t channels = input.size(1), ndim = input.dim();
    const int64_t local_count = channels == 0 ? 0 : input.numel() / channels;
    // [Σx, Σx², n] per channel; an empty share contributes zeros but still takes part.
    auto sums = at::zeros({3, channels}, input.options().dtype(at::kDouble));
    if (local_count > 0) {
      const auto [local_var, local_mean] = at::var_mean(x, non_channel_dims(x), /*correction=*/0, /*keepdim=*/false);
      const auto m = local_mean.to(at::kDouble);
      const auto n = static_cast<double>(local_count);
      sums = at::stack({m * n, (local_var.to(at::kDouble) + m.square()) * n, at::full_like(m, n)});
    }
    replicas->all_reduce(sums, hooks::ReduceOp::Sum);
    const auto count = sums[2];
    const auto mean64 = sums[0] / count;
    const auto var64 = (sums[1] / count - mean64.square()).clamp_min(0);
    if (running_mean.defined()) running_mean.copy_(running_mean * (1 - momentum) + mean64 * momentum);
    if (running_var.defined()) {
      running_var.copy_(running_var * (1 - momentum) + var64 * (count / (count - 1)) * momentum);
    }

    const auto mean = mean64.to(acc), invstd = (var64 + eps).rsqrt().to(acc);
    auto out = (x - per_channel(mean, ndim)) * per_channel(weight.defined() ? invstd * weight.to(acc) : invstd, ndim);
    if (bias.defined()) out = out + per_channel(bias.to(acc), ndim);
    ctx->save_for_backward({input, weight, mean, invstd, count.to(acc)});
    // The backward's all_reduce goes to the replicas of this forward, whichever thread runs it.
    ctx->saved_data["replicas"] = static_cast<int64_t>(reinterpret_cast<std::intptr_t>(replicas));
    return out.to(input.scalar_type());
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad) {
    const auto saved = ctx->get_saved_variables();
    const auto &input = saved[0], &weight = saved[1], &mean = saved[2], &invstd = saved[3], &count = saved[4];
    auto* replicas =
        reinterpret_cast<hooks::Replicas*>(static_cast<std::intptr_t>(ctx->saved_data["replicas"].toInt()));
    const auto acc = mean.scalar_type();
    const int64_t ndim = input.dim();
    const auto dims = non_channel_dims(input);
    const auto dy = grad[0].to(acc);
    const auto x_minus_mean = input.to(acc) - per_channel(mean, ndim);
    const auto sum_dy = dy.sum(dims), sum_dy_xmu = (dy * x_minus_mean).sum(dims);

    at::Tensor grad_input, grad_weight, grad_bias;
    if (ctx->needs_input_grad(0)) {
      auto global = at::stack({sum_dy, sum_dy_xmu});
      replicas->all_reduce(global, hooks::ReduceOp::Sum);
      const auto mean_dy = global[0] / count, mean_dy_xmu = global[1] / count;
      const auto scale = weight.defined() ? invstd * weight.to(acc) : invstd;
      const auto centred =
          dy - per_channel(mean_dy, ndim) - x_minus_mean * per_channel(invstd.square() * mean_dy_xmu, ndim);
      grad_input = (centred * per_channel(scale, ndim)).to(input.scalar_type());
    }
    // Local sums: the engine's average over the replicas completes them (see the header).
    if (weight.defined() && ctx->needs_input_grad(1)) grad_weight = (sum_dy_xmu * invstd).to(weight.scalar_type());
    if (weight.defined() && ctx->needs_input_grad(2)) grad_bias = sum_dy.to(weight.scalar_type());
    return {grad_input, grad_weight, grad_bias, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

torch::Tensor sync_batch_norm(const torch::Tensor& input, const torch::Tensor& weight, const torch::Tensor& bias,
                              const torch::Tensor& running_mean, const torch::Tensor& running_var, double momentum,
                              double eps, hooks::Replicas& replicas) {
  TORCH_CHECK(input.dim() >= 2, "sync_batch_norm: expected an input [B, C, ...], got shape ", input.sizes());
  const auto optional = [](const torch::Tensor& t) {
    return t.defined() ? std::optional<at::Tensor>(t) : std::nullopt;
  };
  TORCH_CHECK(weight.defined() == bias.defined(), "sync_batch_norm: expected both weight and bias, or neither");
  return SyncBatchNormFunction::apply(input, optional(weight), optional(bias), optional(running_mean),
                                      optional(running_var), momentum, eps, &replicas);
}

BatchNormImpl::BatchNormImpl(BatchNormOptions options_) : options(std::move(options_)) { reset(); }

// As torch::nn::NormImplBase::reset: the same names, undefined tensors where torch has them.
void BatchNormImpl::reset() {
  const auto c = options.num_features();
  TORCH_CHECK_VALUE(c > 0, "BatchNorm: num_features must be > 0, got ", c);
  if (options.affine()) {
    weight = register_parameter("weight", torch::empty({c}));
    bias = register_parameter("bias", torch::empty({c}));
  } else {
    weight = register_parameter("weight", torch::Tensor(), /*requires_grad=*/false);
    bias = register_parameter("bias", torch::Tensor(), /*requires_grad=*/false);
  }
  if (options.track_running_stats()) {
    running_mean = register_buffer("running_mean", torch::zeros({c}));
    running_var = register_buffer("running_var", torch::ones({c}));
    num_batches_tracked = register_buffer("num_batches_tracked", torch::tensor(0, torch::dtype(torch::kLong)));
  } else {
    running_mean = register_buffer("running_mean", torch::Tensor());
    running_var = register_buffer("running_var", torch::Tensor());
    num_batches_tracked = register_buffer("num_batches_tracked", torch::Tensor());
  }
  reset_parameters();
}

void BatchNormImpl::reset_running_stats() {
  if (!options.track_running_stats()) return;
  running_mean.zero_();
  running_var.fill_(1);
  num_batches_tracked.zero_();
}

void BatchNormImpl::reset_parameters() {
  reset_running_stats();
  if (options.affine()) {
    torch::nn::init::ones_(weight);
    torch::nn::init::zeros_(bias);
  }
}

// torch::nn::BatchNormImplBase::forward, with the synchronised branch.
double BatchNormImpl::count_batch() {
  double factor = options.momentum().value_or(0.0);
  if (is_training() && options.track_running_stats() && num_batches_tracked.defined()) {
    num_batches_tracked += 1;
    if (!options.momentum().has_value()) factor = 1.0 / num_batches_tracked.item<double>();  // cumulative average
  }
  return factor;
}

bool BatchNormImpl::synchronises() const {
  auto* replicas = hooks::replicas();
  return is_training() && replicas != nullptr && replicas->sync_batch_norm && replicas->world_size() > 1;
}

bool BatchNormImpl::normalises_alone(const torch::Tensor& input) const {
  return !synchronises() && !(is_training() && ghost_batch > 0 && input.size(0) > ghost_batch);
}

bool BatchNormImpl::uses_batch_statistics() const { return is_training() || !options.track_running_stats(); }

torch::Tensor BatchNormImpl::forward(const torch::Tensor& input) {
  TORCH_CHECK(input.dim() >= 2 && input.size(1) == options.num_features(), "BatchNorm(", options.num_features(),
              "): expected an input [B, ", options.num_features(), ", ...], got shape ", input.sizes());
  const double factor = count_batch();
  if (normalises_alone(input)) {
    return torch::nn::functional::detail::batch_norm(input, running_mean, running_var, weight, bias,
                                                     uses_batch_statistics(), factor, options.eps());
  }
  if (!synchronises()) return ghost_forward(input, factor);
  TORCH_CHECK(ghost_batch == 0, "BatchNorm(", options.num_features(),
              "): ghost batches and synchronised batch norm exclude each other");
  return sync_batch_norm(input, weight, bias, running_mean, running_var, factor, options.eps(), *hooks::replicas());
}

// The first chunk updates the running statistics; the others are normalised with their own only.
torch::Tensor BatchNormImpl::ghost_forward(const torch::Tensor& input, double momentum) {
  namespace F = torch::nn::functional;
  const auto chunks = input.split(ghost_batch, 0);
  std::vector<torch::Tensor> outputs;
  outputs.reserve(chunks.size());
  for (size_t i = 0; i < chunks.size(); ++i) {
    const bool first = i == 0;
    outputs.push_back(F::detail::batch_norm(chunks[i], first ? running_mean : torch::Tensor(),
                                            first ? running_var : torch::Tensor(), weight, bias,
                                            /*training=*/true, momentum, options.eps()));
  }
  return torch::cat(outputs, 0);
}

void set_ghost_batch(torch::nn::Module& module, int64_t ghost_batch) {
  TORCH_CHECK_VALUE(ghost_batch >= 0, "ghost batch size must be >= 0, got ", ghost_batch);
  for (const auto& m : module.modules(/*include_self=*/true)) {
    if (auto* bn = dynamic_cast<BatchNormImpl*>(m.get())) bn->ghost_batch = ghost_batch;
  }
}

void BatchNormImpl::pretty_print(std::ostream& stream) const {
  stream << std::boolalpha << "lowbit::layers::BatchNorm(" << options.num_features() << ", eps=" << options.eps()
         << ", momentum=";
  if (options.momentum().has_value()) {
    stream << *options.momentum();
  } else {
    stream << "None";
  }
  stream << ", affine=" << options.affine() << ", track_running_stats=" << options.track_running_stats();
  if (ghost_batch > 0) stream << ", ghost_batch=" << ghost_batch;
  stream << ")";
}

}  // namespace lowbit::layers
