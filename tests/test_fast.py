"""Every fast path in minifa/fast.py computes the numbers of the plain equation it
replaces (the GPU kernels are checked on a GPU in test_backend.py)."""

import numpy
import pytest

import minifa


class Holder(minifa.Layer):
    param_names = ("W",)

    def __init__(self, W):
        self.W = W
        self.dW = numpy.zeros_like(W)


@pytest.mark.parametrize("dtype, rtol, atol", [("float64", 1e-12, 1e-15),
                                               ("float32", 2e-5, 1e-7)])
def test_folded_adam_equals_the_textbook_lines(dtype, rtol, atol):
    rng = numpy.random.default_rng(1)
    W0 = rng.standard_normal(500).astype(dtype)
    layers = [Holder(W0.copy()) for _ in range(2)]
    opts = [minifa.Adam(layer.parameters(), lr=1e-2, weight_decay=0.1, fast=fast,
                        flush_every=7) for layer, fast in zip(layers, (False, True))]
    for _ in range(30):
        g = rng.standard_normal(500).astype(dtype)
        g[:50] = 0.0  # dead units: their moments decay and get flushed
        for layer, opt in zip(layers, opts):
            layer.dW[...] = g
            opt.step()
    plain, folded = opts
    numpy.testing.assert_allclose(layers[1].W, layers[0].W, rtol=rtol, atol=atol)
    numpy.testing.assert_allclose((1 - folded.b1) * folded.mu, plain.m, rtol=rtol, atol=atol)
    numpy.testing.assert_allclose((1 - folded.b2) * folded.nu, plain.v, rtol=rtol, atol=atol)
    assert layers[0].W.dtype == layers[1].W.dtype == numpy.dtype(dtype)


def test_plain_adam_trains_a_model_like_the_folded_one():
    rng = numpy.random.default_rng(0)
    x, y = rng.random((256, 12)), rng.integers(0, 3, 256)
    histories = []
    for fast in (False, True):
        model = minifa.mlp([12, 8, 3], rule="fa", seed=0, dtype="float64")
        opt = minifa.Adam(model.parameters(), lr=1e-2, fast=fast)
        loader = minifa.DataLoader(x, y, batch_size=32, seed=0)
        histories.append(minifa.train(model, opt, loader, epochs=3))
    numpy.testing.assert_allclose(histories[0]["loss_train"], histories[1]["loss_train"],
                                  rtol=1e-9)


def test_relu_and_softmax_ce_backward_are_their_plain_lines_on_numpy():
    rng = numpy.random.default_rng(2)
    z, delta = rng.standard_normal((5, 4)), rng.standard_normal((5, 4))
    relu = minifa.ReLU()
    relu.forward(z)
    numpy.testing.assert_array_equal(relu.backward(delta), delta * (z > 0))
    loss = minifa.SoftmaxCrossEntropy()
    y = rng.integers(0, 4, 5)
    loss.forward(z, y)
    p = numpy.exp(z) / numpy.exp(z).sum(1, keepdims=True)
    numpy.testing.assert_allclose(loss.backward(), (p - numpy.eye(4)[y]) / 5, rtol=1e-12)


def test_sliced_passes_follow_the_callers_floating_point_error_settings(monkeypatch):
    monkeypatch.setattr(minifa.fast, "PARALLEL_MIN", 1)
    monkeypatch.setattr(minifa.fast, "CHUNK", 64)
    monkeypatch.setattr(minifa.fast, "workers", lambda: 2)
    layer = Holder(numpy.zeros(256, "float32"))
    opt = minifa.Adam(layer.parameters(), lr=1.0)
    layer.dW[...] = 1e30  # g * g overflows float32
    with numpy.errstate(over="raise"), pytest.raises(FloatingPointError):
        opt.step()  # raised in a worker thread, re-raised here
    with numpy.errstate(over="ignore"):
        opt.step()  # silent, as train() asks


def test_conv_weight_grad_is_its_plain_line():
    rng = numpy.random.default_rng(0)
    for c_out, K, m in [(6, 25, 64 * 28 * 28), (16, 150, 64 * 10 * 10), (3, 7, 11)]:
        cols = rng.standard_normal((K, m), dtype=numpy.float32)
        delta_mat = rng.standard_normal((c_out, m), dtype=numpy.float32)
        numpy.testing.assert_allclose(minifa.fast.conv_weight_grad(delta_mat, cols),
                                      delta_mat @ cols.T, rtol=1e-5, atol=1e-5)
