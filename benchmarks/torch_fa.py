"""Feedback alignment in PyTorch: a dense layer whose backward sends the error down
through a fixed random matrix B instead of W.T (Lillicrap, Cownden, Tweed & Akerman
2016, "Random synaptic feedback weights support error backpropagation for deep
learning", Nat. Commun. 7:13276).

    z = x @ W + b          (n, in) @ (in, out) + (out,) -> (n, out)
    dW = x.T @ delta       (in, n) @ (n, out) -> (in, out)
    db = sum_n delta       (n, out) -> (out,)
    delta_in = delta @ B   (n, out) @ (out, in) -> (n, in); BP: delta @ W.T

W is stored (in, out) and B (out, in), as minifa stores them, so a minifa model's
arrays copy in unchanged. compare_torch.py times it against minifa;
tests/test_torch_fa.py checks its gradients against minifa's.
"""

import numpy
import torch


class FALinearFunction(torch.autograd.Function):
    """z = x @ W + b forward; backward returns dW, db and delta @ B for x."""

    @staticmethod
    def forward(ctx, x, W, b, B):
        ctx.save_for_backward(x, B)
        return torch.addmm(b, x, W)  # (n, in) @ (in, out) + (out,) -> (n, out)

    @staticmethod
    def backward(ctx, delta):
        x, B = ctx.saved_tensors
        dx = delta @ B if ctx.needs_input_grad[0] else None  # FA: (n, out) @ (out, in); BP: W.T
        dW = x.t() @ delta if ctx.needs_input_grad[1] else None  # (in, n) @ (n, out)
        db = delta.sum(0) if ctx.needs_input_grad[2] else None  # (n, out) -> (out,)
        return dx, dW, db, None  # B is fixed: no gradient


class Dense(torch.nn.Module):
    """A dense layer from arrays W (in, out), b (out,) and B (out, in), copied in.

    ``rule="fa"`` sends ``delta @ B`` down; ``rule="bp"`` is plain autograd
    (``delta @ W.T``), the control that shows a check can tell the two apart.
    B is a buffer: saved with the model, never trained.
    """

    def __init__(self, W, b, B, rule="fa"):
        super().__init__()
        if rule not in ("fa", "bp"):
            raise ValueError(f"rule must be 'fa' or 'bp', got {rule!r}")
        self.W = torch.nn.Parameter(torch.from_numpy(numpy.array(W)))
        self.b = torch.nn.Parameter(torch.from_numpy(numpy.array(b)))
        self.register_buffer("B", torch.from_numpy(numpy.array(B)))
        self.rule = rule

    def forward(self, x):
        if self.rule == "bp":
            return torch.addmm(self.b, x, self.W)
        return FALinearFunction.apply(x, self.W, self.b, self.B)


class MLP(torch.nn.Module):
    """``Dense`` layers from ``arrays`` [(W, b, B), ...], input side first, with ReLU
    between them (none after the last): minifa.mlp(..., rule="fa")'s network."""

    def __init__(self, arrays, rule="fa"):
        super().__init__()
        self.dense = torch.nn.ModuleList(Dense(W, b, B, rule) for W, b, B in arrays)

    def forward(self, x):
        return relu_between(self.dense, x)


def relu_between(layers, x):
    """``layers`` applied to x in order, with ReLU between them (none after the last)."""
    last = len(layers) - 1
    for i, layer in enumerate(layers):
        x = layer(x)
        if i < last:
            x = torch.relu(x)
    return x
