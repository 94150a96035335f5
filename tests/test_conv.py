"""Conv2d, FAConv2d, MaxPool2d, Flatten, Reshape: gradients against central
differences (float64), the FA/BP identity when B = W, and the strict backend."""

import numpy
import pytest

import minifa
from minifa.gradcheck import numerical_grad
from minifa.layers.conv import Conv2d, FAConv2d, Flatten, MaxPool2d, Reshape

from strict_backend import SYNCS, StrictArray

RTOL, ATOL = 1e-6, 1e-8


@pytest.fixture
def rng():
    return numpy.random.default_rng(11)


def naive_conv(x, W, b, stride, padding):
    """Cross-correlation by plain loops over every output entry."""
    n, _, h, w = x.shape
    c_out, _, kh, kw = W.shape
    xp = numpy.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    oh, ow = (h + 2 * padding - kh) // stride + 1, (w + 2 * padding - kw) // stride + 1
    z = numpy.zeros((n, c_out, oh, ow))
    for i in range(n):
        for o in range(c_out):
            for r in range(oh):
                for s in range(ow):
                    patch = xp[i, :, r * stride:r * stride + kh, s * stride:s * stride + kw]
                    z[i, o, r, s] = (patch * W[o]).sum() + b[o]
    return z


@pytest.mark.parametrize("kernel, stride, padding", [(3, 1, 0), (3, 2, 1), ((2, 3), 1, 2)])
def test_conv_forward_equals_naive_loops(rng, kernel, stride, padding):
    layer = Conv2d(2, 3, kernel, stride, padding, rng=rng, dtype="float64")
    layer.b[:] = rng.standard_normal(3)
    x = rng.standard_normal((2, 2, 5, 6))
    z = layer.forward(x)
    numpy.testing.assert_allclose(z, naive_conv(x, layer.W, layer.b, stride, padding),
                                  rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("stride, padding", [(1, 0), (1, 1), (2, 0), (2, 1)])
def test_conv_gradients(rng, stride, padding):
    layer = Conv2d(2, 3, 3, stride, padding, rng=rng, dtype="float64")
    layer.b[:] = rng.standard_normal(3)
    x = rng.standard_normal((2, 2, 5, 7))  # non-square
    G = rng.standard_normal(layer.forward(x).shape)  # L = sum(z * G), so dL/dz = G

    def loss():
        return float((layer.forward(x) * G).sum())

    layer.forward(x)
    delta_in = layer.backward(G)
    assert delta_in.shape == x.shape
    numpy.testing.assert_allclose(layer.dW, numerical_grad(loss, layer.W), RTOL, ATOL)
    numpy.testing.assert_allclose(layer.db, numerical_grad(loss, layer.b), RTOL, ATOL)
    numpy.testing.assert_allclose(delta_in, numerical_grad(loss, x), RTOL, ATOL)


@pytest.mark.parametrize("k, shape", [(2, (2, 3, 4, 6)), (3, (1, 2, 6, 3))])
def test_maxpool_gradient(rng, k, shape):
    pool = MaxPool2d(k)
    x = rng.permutation(numpy.arange(numpy.prod(shape), dtype="float64")).reshape(shape)
    x *= 0.01  # distinct values 0.01 apart: no perturbation of 1e-6 changes a maximum
    G = rng.standard_normal(pool.forward(x).shape)
    numpy.testing.assert_array_equal(
        pool.forward(x), x.reshape(shape[0], shape[1], shape[2] // k, k, -1, k).max((3, 5)))
    numpy.testing.assert_allclose(
        pool.backward(G), numerical_grad(lambda: float((pool.forward(x) * G).sum()), x),
        RTOL, ATOL)


def test_maxpool_ties_go_to_the_first_maximum_only():
    pool = MaxPool2d(2)
    x = numpy.array([[[[1.0, 1.0, 0.0, 2.0],
                       [1.0, 1.0, 2.0, 2.0]]]])
    pool.forward(x)
    dx = pool.backward(numpy.array([[[[5.0, 7.0]]]]))
    numpy.testing.assert_array_equal(dx, [[[[5.0, 0.0, 0.0, 7.0],
                                             [0.0, 0.0, 0.0, 0.0]]]])


def test_flatten_and_reshape_round_trip(rng):
    x = rng.standard_normal((3, 2, 4, 5))
    flat, shape = Flatten(), Reshape((2, 4, 5))
    rows = flat.forward(x)
    assert rows.shape == (3, 40) and shape.n_in == 40
    numpy.testing.assert_array_equal(shape.forward(rows), x)
    numpy.testing.assert_array_equal(flat.backward(shape.backward(x)), x)
    numpy.testing.assert_array_equal(shape.backward(flat.backward(rows)), rows)
    assert flat.parameters() == [] and shape.parameters() == []


def small_net(first, rule="bp", seed=0, dtype="float64", backend=None):
    """(n, 64) rows or (n, 1, 8, 8) images -> conv -> relu -> pool -> conv -> relu -> dense."""
    conv, dense = (Conv2d, minifa.Linear) if rule == "bp" else (FAConv2d, minifa.FALinear)
    r = minifa.streams(seed)
    kw = dict(rng=r.weights, dtype=dtype, backend=backend)
    if rule == "fa":
        kw["feedback_rng"] = r.feedback
    layers = [conv(1, 2, 3, padding=1, **kw), minifa.ReLU(), MaxPool2d(2),
              conv(2, 3, 3, stride=2, padding=1, **kw), minifa.ReLU(), Flatten(),
              dense(12, 3, **kw)]
    if first == "reshape":
        layers.insert(0, Reshape((1, 8, 8)))
    return minifa.Sequential(*layers)


@pytest.mark.parametrize("first", ["reshape", "conv"])
def test_conv_net_bp_gradients(rng, first):
    model = small_net(first)
    for p in model.parameters():
        if p.name == "b":
            p.value[:] = 0.1 * rng.standard_normal(p.value.shape)
    loss = minifa.SoftmaxCrossEntropy()
    x = rng.standard_normal((4, 64) if first == "reshape" else (4, 1, 8, 8))
    y = rng.integers(0, 3, 4)

    def value():
        return float(loss.forward(model.forward(x), y))

    value()
    model.backward(loss.backward())  # the first layer only computes its gradients
    assert len(model.parameters()) == 6
    for p in model.parameters():
        numpy.testing.assert_allclose(p.grad, numerical_grad(value, p.value), RTOL, ATOL,
                                      err_msg=repr(p))


def test_faconv_equals_conv_when_B_is_W(rng):
    bp, fa = small_net("reshape", "bp", seed=3), small_net("reshape", "fa", seed=3)
    for lb, lf in zip(bp.layers, fa.layers):
        if isinstance(lf, FAConv2d):
            numpy.testing.assert_array_equal(lb.W, lf.W)  # same weight stream
            lf.B = lf.W.copy()
        elif isinstance(lf, minifa.FALinear):
            lf.B = lf.W.T.copy()
    x, y = rng.standard_normal((5, 64)), rng.integers(0, 3, 5)
    outputs = []
    for model in (bp, fa):
        loss = minifa.SoftmaxCrossEntropy()
        z = model.forward(x)
        loss.forward(z, y)
        delta = loss.backward()
        for layer in reversed(model.layers):  # every layer's backward, down to the input
            delta = layer.backward(delta)
        outputs.append((z, delta, [p.grad.copy() for p in model.parameters()]))
    (z_bp, d_bp, g_bp), (z_fa, d_fa, g_fa) = outputs
    numpy.testing.assert_array_equal(z_bp, z_fa)
    numpy.testing.assert_array_equal(d_bp, d_fa)  # exact, not merely close
    for a, b in zip(g_bp, g_fa):
        numpy.testing.assert_array_equal(a, b)


def test_faconv_delta_differs_from_true_gradient(rng):
    layer = FAConv2d(2, 3, 3, padding=1, rng=0, feedback_rng=1, dtype="float64")
    x = rng.standard_normal((2, 2, 5, 5))
    G = rng.standard_normal(layer.forward(x).shape)
    fa_delta, bp_delta = layer.feedback(G), layer.bp_feedback(G)
    assert fa_delta.shape == bp_delta.shape == x.shape
    assert not numpy.allclose(fa_delta, bp_delta, rtol=1e-3, atol=1e-6)
    assert abs(numpy.corrcoef(layer.B.ravel(), layer.W.ravel())[0, 1]) < 0.5


def test_B_is_fixed_not_a_parameter_and_matches_W(rng):
    model = small_net("reshape", "fa", dtype="float32")
    convs = [layer for layer in model.layers if isinstance(layer, FAConv2d)]
    params = model.parameters()
    assert all(p.value is not layer.B for p in params for layer in convs)
    assert [p.name for p in params] == ["W", "b", "W", "b", "W", "b"]
    before = [layer.B.copy() for layer in convs]
    opt = minifa.Adam(params, lr=0.1)
    loss = minifa.SoftmaxCrossEntropy()
    x, y = rng.standard_normal((6, 64)).astype("float32"), rng.integers(0, 3, 6)
    for _ in range(2):
        minifa.train_step(model, loss, opt, x, y)
    for layer, B0 in zip(convs, before):
        numpy.testing.assert_array_equal(layer.B, B0)
        assert layer.B.shape == layer.W.shape
        assert layer.B.dtype == layer.W.dtype == numpy.float32
        assert type(layer.B) is type(layer.W)
        # gradients were written in place into the optimizer's flat arrays
        assert numpy.shares_memory(layer.dW, opt.g) and numpy.shares_memory(layer.W, opt.w)


def test_filters_are_glorot_uniform_with_conv_fans():
    layer = FAConv2d(16, 32, 5, rng=0, feedback_rng=1, dtype="float64")
    a = (6 / (16 * 25 + 32 * 25)) ** 0.5
    for bank in (layer.W, layer.B):
        assert bank.shape == (32, 16, 5, 5)
        assert abs(bank).max() <= a and abs(bank).max() > 0.99 * a
    assert not layer.b.any()


def test_conv_training_on_strict_backend_has_no_sync_and_matches_numpy(strict, rng,
                                                                        numpy_passes):
    x = rng.random((16, 64), dtype=numpy.float32)
    y = rng.integers(0, 3, 16)
    weights = []
    for backend in (strict, minifa.get_backend("numpy")):
        model = small_net("reshape", "fa", seed=4, dtype="float32", backend=backend)
        opt = minifa.Adam(model.parameters(), lr=0.01)
        loss = minifa.SoftmaxCrossEntropy()
        xb, yb = backend.asarray(x), backend.asarray(y)
        minifa.train_step(model, loss, opt, xb, yb)  # warm-up: first-call allocations
        SYNCS["count"] = 0
        for _ in range(2):
            value, hits = minifa.train_step(model, loss, opt, xb, yb)
        if backend is strict:
            assert SYNCS["count"] == 0
            assert isinstance(value, StrictArray) and isinstance(hits, StrictArray)
            assert all(isinstance(p.grad, StrictArray) for p in model.parameters())
        weights.append([backend.to_host(p.value) for p in model.parameters()])
    for a, b in zip(*weights):
        numpy.testing.assert_array_equal(a, b)


def test_train_runs_a_conv_net_on_flat_rows(rng):
    model = small_net("reshape", "fa", dtype="float32")
    assert model.n_in == 64 and model.n_out == 3
    x, y = rng.random((32, 64), dtype=numpy.float32), rng.integers(0, 3, 32)
    history = minifa.train(model, minifa.Adam(model.parameters()),
                           minifa.DataLoader(x, y, batch_size=8), epochs=2, test=(x, y))
    assert len(history) == 2 and numpy.isfinite(history["loss_test"]).all()


def one_line_error(match, fn, *args):
    with pytest.raises(minifa.InputError, match=match) as info:
        fn(*args)
    assert "\n" not in str(info.value)


def test_clear_input_errors():
    conv = Conv2d(3, 4, 3, dtype="float64")
    one_line_error(r"expects input of shape \(batch, 3, h, w\), got \(2, 1, 8, 8\)",
                   conv.forward, numpy.zeros((2, 1, 8, 8)))
    one_line_error(r"got \(2, 192\): feed flat rows through Reshape",
                   conv.forward, numpy.zeros((2, 192)))
    one_line_error("smaller than the 3x3 kernel", conv.forward, numpy.zeros((2, 3, 2, 8)))
    one_line_error("holds float64 weights but got float32 input",
                   conv.forward, numpy.zeros((2, 3, 8, 8), dtype="float32"))
    one_line_error("h and w divisible by 2", MaxPool2d(2).forward, numpy.zeros((1, 1, 5, 4)))
    one_line_error("non-overlapping", MaxPool2d, 2, 1)
    one_line_error(r"expects input of shape \(batch, 64\)", Reshape((1, 8, 8)).forward,
                   numpy.zeros((2, 1, 8, 8)))
    one_line_error("must be positive", Conv2d, 0, 4, 3)
    with pytest.raises(minifa.BackendError):
        conv.forward([[1.0]])
