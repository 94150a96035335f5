"""Binary weights and STE activations: forward values, straight-through
backward equations, seeded stochastic binarization, in-place clamping, and a
sync-free training step on the strict backend."""


import example_scripts
import numpy
import pytest

import minifa
from minifa.gradcheck import numerical_grad
from minifa.layers.binary import (
    BinaryLinear,
    HardSigmoid,
    HardTanh,
    SignSTE,
    StochasticSignSTE,
    clamp_weights,
)

from strict_backend import SYNCS, StrictArray

RTOL, ATOL = 1e-6, 1e-8


@pytest.fixture
def rng():
    return numpy.random.default_rng(7)


def sign(a):
    return numpy.where(a >= 0, 1.0, -1.0)


def hardsigmoid(a):
    return numpy.clip((a + 1) / 2, 0, 1)


def binary_layer(rng, stochastic=False, n_in=5, n_out=3, **kw):
    layer = BinaryLinear(n_in, n_out, rng=rng, stochastic=stochastic, dtype="float64", **kw)
    layer.b[:] = rng.standard_normal(n_out)
    return layer


def test_binary_linear_forward_and_straight_through_backward(rng):
    layer = binary_layer(rng)
    layer.W[0, 0] = 0.0  # sign(0) = +1
    layer.W[1, 1] = -0.0
    x = rng.standard_normal((4, 5))
    delta = rng.standard_normal((4, 3))
    Wb = sign(layer.W)
    assert Wb[0, 0] == 1 and Wb[1, 1] == 1
    numpy.testing.assert_allclose(layer.forward(x), x @ Wb + layer.b, RTOL, ATOL)
    numpy.testing.assert_array_equal(layer.Wb, Wb)
    delta_in = layer.backward(delta)
    numpy.testing.assert_allclose(layer.dW, x.T @ delta, RTOL, ATOL)  # STE: dL/dWb -> W
    numpy.testing.assert_allclose(layer.db, delta.sum(0), RTOL, ATOL)
    numpy.testing.assert_allclose(delta_in, delta @ Wb.T, RTOL, ATOL)  # BP through Wb


def test_binary_weights_already_binary_match_linear_and_finite_differences(rng):
    layer = binary_layer(rng)
    layer.W[...] = sign(layer.W)
    dense = minifa.Linear(5, 3, dtype="float64")
    dense.W[...], dense.b[...] = layer.W, layer.b
    x = rng.standard_normal((4, 5))
    G = rng.standard_normal((4, 3))  # L = sum(z * G), so dL/dz = G
    numpy.testing.assert_array_equal(layer.forward(x), dense.forward(x))
    delta_in, dense_delta_in = layer.backward(G), dense.backward(G)
    numpy.testing.assert_array_equal(layer.dW, dense.dW)
    numpy.testing.assert_array_equal(layer.db, dense.db)
    numpy.testing.assert_array_equal(delta_in, dense_delta_in)

    def loss():  # the Linear path at W = sign(W): the STE's exact counterpart
        return float((dense.forward(x) * G).sum())

    numpy.testing.assert_allclose(layer.dW, numerical_grad(loss, dense.W), RTOL, ATOL)
    numpy.testing.assert_allclose(layer.db, numerical_grad(loss, dense.b), RTOL, ATOL)
    numpy.testing.assert_allclose(delta_in, numerical_grad(loss, x), RTOL, ATOL)


def test_stochastic_binary_weights_are_seeded_and_follow_hardsigmoid(rng):
    layer = binary_layer(rng, stochastic=True, n_in=4, n_out=5, noise_rng=11)
    layer.W[...] = numpy.linspace(-1.2, 1.2, 20).reshape(4, 5)  # both clipped ends included
    x = numpy.eye(4)
    draws = numpy.stack([layer.forward(x) - layer.b for _ in range(4000)])
    assert set(numpy.unique(draws)) == {-1.0, 1.0}
    numpy.testing.assert_allclose((draws == 1).mean(0), hardsigmoid(layer.W), atol=0.03)
    p = hardsigmoid(layer.W)
    assert ((draws == 1).mean(0)[p == 0] == 0).all() and ((draws == 1).mean(0)[p == 1] == 1).all()
    # backward goes through the draw this forward used
    delta = rng.standard_normal((4, 5))
    numpy.testing.assert_allclose(layer.backward(delta), delta @ layer.Wb.T, RTOL, ATOL)

    def first_draws(seed):
        other = binary_layer(numpy.random.default_rng(7), stochastic=True, n_in=4, n_out=5,
                             noise_rng=seed)
        return [other.forward(x).copy() for _ in range(3)]

    a, b, c = first_draws(11), first_draws(11), first_draws(12)
    for u, v in zip(a, b):
        numpy.testing.assert_array_equal(u, v)
    assert not all(numpy.array_equal(u, w) for u, w in zip(a, c))
    assert not numpy.array_equal(a[0], a[1])  # a fresh draw each forward


Z = numpy.array([[-2.0, -1.0, -0.5, 0.0], [0.5, 1.0, 3.0, -0.0]])


def test_sign_ste():
    act = SignSTE()
    numpy.testing.assert_array_equal(act.forward(Z), [[-1, -1, -1, 1], [1, 1, 1, 1]])
    delta = numpy.arange(1.0, 9.0).reshape(2, 4)
    numpy.testing.assert_array_equal(act.backward(delta), [[0, 2, 3, 4], [5, 6, 0, 8]])
    plain = SignSTE(clip=None)  # Bender.jl's sign_STE: the identity backward
    plain.forward(Z)
    numpy.testing.assert_array_equal(plain.backward(delta), delta)


def test_stochastic_sign_ste():
    z = numpy.tile(numpy.array([-3.0, -1.0, -0.5, 0.0, 0.6, 1.0, 2.0]), (4000, 1))
    act = StochasticSignSTE(noise_rng=5)
    h = act.forward(z)
    assert h.dtype == z.dtype and set(numpy.unique(h)) == {-1.0, 1.0}
    freq = (h == 1).mean(0)
    numpy.testing.assert_allclose(freq, [0, 0, 0.25, 0.5, 0.8, 1, 1], atol=0.03)
    assert freq[0] == freq[1] == 0 and freq[-2] == freq[-1] == 1
    numpy.testing.assert_array_equal(act.backward(numpy.ones_like(z))[0], [0, 1, 1, 1, 1, 1, 0])
    again = StochasticSignSTE(noise_rng=5).forward(z)
    numpy.testing.assert_array_equal(h, again)
    assert not numpy.array_equal(h, act.forward(z))


def test_hardtanh_adaste():
    act = HardTanh()
    numpy.testing.assert_array_equal(act.forward(Z), [[-1, -1, -0.5, 0], [0.5, 1, 1, 0]])
    # inside |z| < 1: identity; |z| >= 1: 2 / (1 + |z|) when the step pulls z back in
    # (delta * z > 0), else 0.
    pos = numpy.ones_like(Z)
    numpy.testing.assert_allclose(act.backward(pos), [[0, 0, 1, 1], [1, 1, 0.5, 1]])
    numpy.testing.assert_allclose(act.backward(-pos), [[-2 / 3, -1, -1, -1],
                                                       [-1, 0, 0, -1]])
    delta = numpy.array([[-0.3, 2.0, 4.0, -5.0], [6.0, 7.0, -8.0, 9.0]])
    numpy.testing.assert_allclose(act.backward(delta), [[-0.2, 0, 4, -5], [6, 7, 0, 9]])


def test_hardsigmoid():
    act = HardSigmoid()
    numpy.testing.assert_array_equal(act.forward(Z), [[0, 0, 0.25, 0.5], [0.75, 1, 1, 0.5]])
    delta = numpy.arange(1.0, 9.0).reshape(2, 4)
    numpy.testing.assert_array_equal(act.backward(delta), [[0, 1, 1.5, 2], [2.5, 3, 0, 4]])


@pytest.mark.parametrize("act", [SignSTE(), StochasticSignSTE(noise_rng=0), HardTanh(),
                                 HardSigmoid()])
def test_activations_keep_float32(act):
    z = numpy.linspace(-2, 2, 12, dtype="float32").reshape(3, 4)
    assert act.forward(z).dtype == numpy.float32
    assert act.backward(numpy.ones_like(z)).dtype == numpy.float32
    assert act.parameters() == []


def test_clamp_is_in_place_also_after_adam_flattens(rng):
    model = minifa.Sequential(binary_layer(rng), SignSTE(), binary_layer(rng, n_in=3, n_out=2))
    first, last = model.layers[0], model.layers[2]
    W = first.W
    W[...] = rng.standard_normal(W.shape) * 3
    first.clamp()
    assert first.W is W and W.min() >= -1 and W.max() <= 1 and (numpy.abs(W) == 1).any()
    opt = minifa.Adam(model.parameters(), lr=0.5)
    views = [first.W, last.W]
    assert all(numpy.shares_memory(v, opt.w) for v in views)
    x, y = rng.standard_normal((8, 5)), rng.integers(0, 2, 8)
    for _ in range(20):  # lr 0.5 drives weights far out of [-1, 1]
        minifa.train_step(model, minifa.SoftmaxCrossEntropy(), opt, x, y)
    assert numpy.abs(opt.w).max() > 1
    first.b[0] = 5.0
    biases = [first.b.copy(), last.b.copy()]
    assert clamp_weights(model) == 2
    assert first.W is views[0] and last.W is views[1]
    for layer, b in zip((first, last), biases):
        assert layer.W.min() >= -1 and layer.W.max() <= 1
        numpy.testing.assert_array_equal(layer.b, b)  # biases are not clamped
    n = first.W.size
    numpy.testing.assert_array_equal(opt.w[:n].reshape(first.W.shape), first.W)


def binary_net(backend, stochastic):
    streams = minifa.streams(0)
    kw = dict(stochastic=stochastic, rng=streams.weights, noise_rng=streams.noise,
              backend=backend)
    act = StochasticSignSTE(noise_rng=streams.noise) if stochastic else SignSTE()
    return minifa.Sequential(BinaryLinear(12, 8, **kw), act, BinaryLinear(8, 8, **kw),
                             HardTanh(), BinaryLinear(8, 6, **kw), HardSigmoid(),
                             BinaryLinear(6, 3, **kw))


@pytest.mark.parametrize("stochastic", [False, True])
def test_training_step_on_strict_backend_makes_no_host_sync(strict, stochastic):
    rng = numpy.random.default_rng(0)
    x, y = rng.random((128, 12), dtype=numpy.float32), rng.integers(0, 3, 128)
    model = binary_net(strict, stochastic)
    loader = minifa.DataLoader(x, y, batch_size=32, backend=strict)
    opt = minifa.Adam(model.parameters())
    loss = minifa.SoftmaxCrossEntropy()
    batches = list(loader)
    before = [strict.to_host(p.value) for p in model.parameters()]
    SYNCS["count"] = 0
    for xb, yb in batches:
        value, hits = minifa.train_step(model, loss, opt, xb, yb)
        clamp_weights(model)
    assert SYNCS["count"] == 0
    assert isinstance(value, StrictArray) and isinstance(hits, StrictArray)
    for layer in model.layers[::2]:
        assert isinstance(layer.Wb, StrictArray) and layer.Wb.dtype == numpy.float32
    after = [strict.to_host(p.value) for p in model.parameters()]
    assert any(not numpy.array_equal(a, b) for a, b in zip(before, after))


def test_strict_and_numpy_binary_training_agree(strict):
    weights = []
    for backend in (strict, minifa.get_backend("numpy")):
        rng = numpy.random.default_rng(1)
        x, y = rng.random((96, 12), dtype=numpy.float32), rng.integers(0, 3, 96)
        model = binary_net(backend, stochastic=True)
        loader = minifa.DataLoader(x, y, batch_size=16, seed=2, backend=backend)
        minifa.train(model, minifa.Adam(model.parameters()), loader, epochs=2,
                     on_epoch=lambda row, m=model: clamp_weights(m))
        weights.append([backend.to_host(p.value) for p in model.parameters()])
    for a, b in zip(*weights):
        numpy.testing.assert_array_equal(a, b)


def load_example():
    return example_scripts.load_example("binary_mnist")


def test_example_runs_one_epoch_offline(tmp_path, capsys, monkeypatch):
    example = load_example()
    monkeypatch.setenv("MINIFA_DATA", str(tmp_path / "none"))
    out = tmp_path / "history.csv"
    args = example.parse_args(["--data", "mnist-small", "--epochs", "1", "--csv", str(out)])
    history = example.run(args)
    assert list(history["epoch"]) == [1] and history["acc_test"].iloc[0] > 0.3
    assert out.read_text().startswith("epoch,loss_train,loss_test,acc_train,acc_test,seconds")
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].startswith("backend: numpy, binary weights: sign, STE: identity")
    assert [line.split()[0] for line in lines if line.strip()[:1].isdigit()] == ["1"]


def test_example_errors_are_one_line(tmp_path, capsys):
    example = load_example()
    assert example.main(["--backend", "tpu"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: unknown backend 'tpu'") and "\n" not in err
    assert example.main(["--csv", str(tmp_path / "missing" / "h.csv")]) == 2
    assert "its folder does not exist" in capsys.readouterr().err
