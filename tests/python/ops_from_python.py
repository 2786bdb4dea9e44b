"""lowbit's operators from Python: liblowbit loaded into PyPI torch with torch.ops.load_library,
forward and backward of a few ops against the same formulas written with torch ops, and a meta
tensor through one (shapes only). Run by tests/ops/python_ops_test.cpp:
    python3 ops_from_python.py path/to/liblowbit.so
Exit status 77 when torch cannot be imported (the test skips), 1 on a mismatch."""
import sys

try:
    import torch
except ImportError as error:
    print(f"skipped: cannot import torch ({error})")
    sys.exit(77)

torch.ops.load_library(sys.argv[1])
lowbit = torch.ops.lowbit
torch.manual_seed(0)
failures = []


def check(name, got, expected, tol=1e-6):
    error = (got.double() - expected.double()).abs().max().item()
    scale = max(1.0, expected.double().abs().max().item())
    status = "ok" if error <= tol * scale else "MISMATCH"
    print(f"{name}: max error {error:.3g} ({status})")
    if error > tol * scale:
        failures.append(name)


def grads(fn, *inputs):
    """fn(*inputs) and the gradients of (fn * upstream).sum() for each input, upstream fixed."""
    leaves = [t.detach().clone().requires_grad_(True) for t in inputs]
    y = fn(*leaves)
    torch.manual_seed(1)
    (y * torch.randn_like(y)).sum().backward()
    return [y.detach()] + [leaf.grad for leaf in leaves]


# XNOR: alpha sign(w), alpha the mean |w| per output channel; xnor scale gradient.
w = torch.randn(8, 4, 3, 3) * 0.8
ours = grads(lambda w: lowbit.scaled_sign(w, "xnor"), w)


def xnor(w):
    alpha = w.abs().mean(dim=(1, 2, 3), keepdim=True)
    value = (alpha * torch.sign(w)).detach()
    # d/dw: g 1[|w| <= 1] alpha + g / n
    n = w[0].numel()
    surrogate = (w * (w.abs() <= 1) * alpha.detach()) + w / n
    return value + surrogate - surrogate.detach()


theirs = grads(xnor, w)
check("scaled_sign value", ours[0], theirs[0])
check("scaled_sign dL/dw", ours[1], theirs[1])

# ReActNet's RSign: sign(x + b) per channel, ApproxSign backward.
x, b = torch.randn(2, 5, 4, 4), torch.randn(5) * 0.3
ours = grads(lambda x, b: lowbit.shifted_sign(x, b, "approx"), x, b)


def rsign(x, b):
    u = x + b.view(1, -1, 1, 1)
    approx = torch.where(u.abs() <= 1, 2 * u - u * u.abs(), torch.sign(u))  # F with F' = 2 - 2|u|
    return torch.sign(u).detach() + approx - approx.detach()


theirs = grads(rsign, x, b)
for name, a, e in zip(["value", "dL/dx", "dL/db"], ours, theirs):
    check(f"shifted_sign {name}", a, e)

# LSQ, 4-bit unsigned, per tensor.
x, s = torch.rand(3, 7) * 2, torch.tensor([0.1])
g = 1 / (21 * 15) ** 0.5
ours = grads(lambda x, s: lowbit.lsq_quantize(x, s, None, 4, False, g), x, s)


def lsq(x, s):
    s_scaled = (s - s * g).detach() + s * g
    u = torch.clamp(x / s_scaled, 0, 15)
    return (u.round() - u).detach() * s_scaled + u * s_scaled


theirs = grads(lsq, x, s)
for name, a, e in zip(["value", "dL/dx", "dL/ds"], ours, theirs):
    check(f"lsq_quantize {name}", a, e, tol=1e-5)

# Meta tensors: shapes without data.
meta = lowbit.ternarize(torch.empty(6, 4, 3, 3, device="meta"))
if meta.device.type != "meta" or tuple(meta.shape) != (6, 4, 3, 3):
    failures.append("ternarize on meta tensors")
print(f"ternarize on meta: {meta.device.type} {tuple(meta.shape)}")

if failures:
    print("FAILED:", ", ".join(failures))
    sys.exit(1)
print("all matched")
