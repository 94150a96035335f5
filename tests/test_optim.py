"""Optimizers against hand-computed updates."""

import numpy
import pytest

import minifa


class Holder(minifa.Layer):
    """A layer with one parameter W and a settable gradient dW."""

    param_names = ("W",)

    def __init__(self, W):
        self.W = W
        self.dW = numpy.zeros_like(W)


@pytest.mark.parametrize("fast", [False, True], ids=["plain", "folded"])
def test_adam_matches_hand_computed_update(fast):
    rng = numpy.random.default_rng(0)
    W0 = rng.standard_normal((3, 4))
    layer = Holder(W0.copy())
    lr, b1, b2, eps = 0.01, 0.8, 0.95, 1e-6
    opt = minifa.Adam(layer.parameters(), lr=lr, betas=(b1, b2), eps=eps, fast=fast)
    W, m, v = W0.copy(), numpy.zeros_like(W0), numpy.zeros_like(W0)
    for t in range(1, 6):
        g = rng.standard_normal((3, 4))
        layer.dW = g
        opt.step()
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        W = W - lr * (m / (1 - b1**t)) / (numpy.sqrt(v / (1 - b2**t)) + eps)
        numpy.testing.assert_allclose(layer.W, W, rtol=1e-12, atol=1e-14)
        moments = (opt.mu * (1 - b1), opt.nu * (1 - b2)) if fast else (opt.m, opt.v)
        numpy.testing.assert_allclose(moments[0].reshape(m.shape), m, rtol=1e-12)
        numpy.testing.assert_allclose(moments[1].reshape(v.shape), v, rtol=1e-12)


def test_adam_first_step_moves_each_weight_by_lr():
    layer = Holder(numpy.zeros((2, 2), dtype="float32"))
    layer.dW = numpy.array([[1.0, -2.0], [0.5, -1e-3]], dtype="float32")
    minifa.Adam(layer.parameters(), lr=1e-3).step()
    numpy.testing.assert_allclose(layer.W, -1e-3 * numpy.sign(layer.dW), rtol=1e-4)
    assert layer.W.dtype == numpy.float32


def test_adam_flushes_subnormal_moments_to_zero():
    layer = Holder(numpy.zeros(4, dtype="float32"))
    opt = minifa.Adam(layer.parameters(), flush_every=50)
    layer.dW = numpy.full(4, 1e-3, dtype="float32")
    opt.step()
    layer.dW = numpy.zeros(4, dtype="float32")  # a dead unit: its gradient stays zero
    for _ in range(849):
        opt.step()
    tiny = numpy.finfo(numpy.float32).tiny
    assert (opt.mu == 0).all()  # 0.9**849 * 1e-3 would be subnormal without the flush
    assert not ((opt.nu != 0) & (numpy.abs(opt.nu) < tiny)).any()


def test_sgd_with_and_without_momentum():
    layer = Holder(numpy.ones(3))
    opt = minifa.SGD(layer.parameters(), lr=0.5)
    layer.dW = numpy.array([1.0, 2.0, -2.0])
    opt.step()
    numpy.testing.assert_allclose(layer.W, [0.5, 0.0, 2.0])
    layer = Holder(numpy.zeros(1))
    opt = minifa.SGD(layer.parameters(), lr=1.0, momentum=0.5)
    layer.dW = numpy.ones(1)
    opt.step()
    opt.step()
    numpy.testing.assert_allclose(layer.W, [-(1 + 1.5)])


def test_optimizer_needs_parameters():
    with pytest.raises(ValueError, match="model.parameters"):
        minifa.Adam([])


def test_hyperparameters_do_not_upcast_float32():
    model = minifa.mlp([4, 3, 2], rule="fa", seed=0)
    opt = minifa.Adam(model.parameters(), lr=numpy.float64(1e-3), betas=numpy.array([0.9, 0.99]))
    assert type(opt.lr) is float and type(opt.b1) is float
    rng = numpy.random.default_rng(0)
    x = rng.standard_normal((5, 4)).astype("float32")
    loss = minifa.SoftmaxCrossEntropy()
    loss.forward(model.forward(x), numpy.array([0, 1, 0, 1, 1]))
    model.backward(loss.backward())
    opt.step()
    for p in model.parameters():
        assert p.value.dtype == numpy.float32 and p.grad.dtype == numpy.float32
    for buf in (opt.w, opt.g, opt.mu, opt.nu):
        assert buf.dtype == numpy.float32


def test_warmup_decay_shrinks_by_start_then_by_then():
    layer = Holder(numpy.ones(2))
    schedule = minifa.WarmupDecay(start=2.0, steps=3, then=0.5)
    opt = minifa.SGD(layer.parameters(), lr=0.1, weight_decay=schedule)
    assert [schedule(t) for t in (1, 3, 4, 100)] == [2.0, 2.0, 0.5, 0.5]
    for _ in range(5):
        opt.step()  # dW = 0: only the decay moves W
    numpy.testing.assert_allclose(layer.W, [(1 - 0.2) ** 3 * (1 - 0.05) ** 2] * 2, rtol=1e-12)


@pytest.mark.parametrize("decay, match", [
    (10.0, "factor 1 - lr \\* lambda = 0, which flips or zeroes the weights: lower the decay"),
    (minifa.WarmupDecay(start=20.0, steps=5), "= -1, which flips"),
    (-0.1, "must be a finite number >= 0"),
    (float("nan"), "must be a finite number >= 0"),
])
def test_decay_that_would_flip_or_zero_the_weights_is_refused(decay, match):
    with pytest.raises(minifa.InputError, match=match):
        minifa.Adam(Holder(numpy.ones(2)).parameters(), lr=0.1, weight_decay=decay)


def test_a_warmup_of_zero_steps_is_checked_by_its_steady_decay():
    opt = minifa.SGD(Holder(numpy.ones(2)).parameters(), lr=0.1,
                     weight_decay=minifa.WarmupDecay(start=20.0, steps=0, then=1.0))
    assert repr(opt.weight_decay) == "WarmupDecay(start=20.0, steps=0, then=1.0)"


def test_negative_warmup_is_refused():
    with pytest.raises(minifa.InputError, match="must not be negative"):
        minifa.WarmupDecay(start=1.0, steps=-3)


def test_sliced_adam_step_equals_the_plain_one_to_the_bit(monkeypatch, numpy_passes):
    rng = numpy.random.default_rng(3)
    W = rng.standard_normal(1000).astype("float32")
    grads = rng.standard_normal((4, 1000)).astype("float32")
    weights = []
    for sliced in (False, True):
        layer = Holder(W.copy())
        opt = minifa.Adam(layer.parameters(), lr=1e-2)
        if sliced:  # small enough that 1000 parameters take the sliced path, in 8 slices
            monkeypatch.setattr(minifa.fast, "PARALLEL_MIN", 1)
            monkeypatch.setattr(minifa.fast, "CHUNK", 128)
            monkeypatch.setattr(minifa.fast, "workers", lambda: 3)
            monkeypatch.setattr(minifa.fast, "adam_passes", calls(minifa.fast.adam_passes))
        for g in grads:
            layer.dW[...] = g
            opt.step()
        weights.append(layer.W.copy())
    assert minifa.fast.adam_passes.n == 4 * 8
    numpy.testing.assert_array_equal(weights[0], weights[1])


def calls(f):
    def counted(*args):
        counted.n += 1
        return f(*args)

    counted.n = 0
    return counted


@pytest.mark.parametrize("make, match", [
    (lambda p: minifa.SGD(p, lr=float("nan")), r"lr must be a finite number > 0, got nan"),
    (lambda p: minifa.SGD(p, lr=-1), r"lr must be a finite number > 0, got -1"),
    (lambda p: minifa.SGD(p, lr=0), r"lr must be a finite number > 0, got 0"),
    (lambda p: minifa.Adam(p, lr=float("inf")), r"lr must be a finite number > 0"),
    (lambda p: minifa.Adam(p, lr="fast"), r"lr must be a number, got 'fast'"),
    (lambda p: minifa.SGD(p, momentum=1.0), r"momentum must be a finite number >= 0 and < 1"),
    (lambda p: minifa.SGD(p, momentum=-0.5), r"momentum must be a finite number >= 0"),
    (lambda p: minifa.Adam(p, betas=(1.0, 0.999)), r"betas\[0\] must be .* < 1, got 1.0"),
    (lambda p: minifa.Adam(p, betas=(0.9, -0.1)), r"betas\[1\] must be a finite number >= 0"),
    (lambda p: minifa.Adam(p, betas=(0.9,)), r"betas must be a pair"),
    (lambda p: minifa.Adam(p, eps=0), r"eps must be a finite number > 0, got 0"),
    (lambda p: minifa.Adam(p, eps=float("nan")), r"eps must be a finite number > 0"),
])
def test_out_of_range_hyper_parameters_are_one_line_errors(make, match):
    """The same refusals as the examples' flags, for the Python API."""
    layer = Holder(numpy.ones((2, 3), dtype=numpy.float32))
    with pytest.raises(minifa.InputError, match=match) as info:
        make(layer.parameters())
    assert "\n" not in str(info.value) and "--" not in str(info.value)


def test_decay_message_names_the_argument_and_the_flag():
    layer = Holder(numpy.ones((2, 3), dtype=numpy.float32))
    with pytest.raises(minifa.InputError, match=r"weight_decay, --weight-decay.*lr, --lr"):
        minifa.Adam(layer.parameters(), lr=0.1, weight_decay=20.0)
