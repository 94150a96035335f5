"""FA: the one changed line, the identity with BP when B = W.T, and the difference otherwise."""

import numpy
import pytest

import minifa


@pytest.fixture
def rng():
    return numpy.random.default_rng(7)


def tied_copies(sizes, seed=0):
    """A BP net and an FA net with the same W, b and each FA layer's B = W.T."""
    bp = minifa.mlp(sizes, rule="bp", seed=seed, dtype="float64")
    fa = minifa.mlp(sizes, rule="fa", seed=seed, dtype="float64")
    for lb, lf in zip(bp.layers, fa.layers):
        if isinstance(lf, minifa.FALinear):
            numpy.testing.assert_array_equal(lb.W, lf.W)  # same weight stream
            lf.B = lf.W.T.copy()
    return bp, fa


def run(model, x, y):
    loss = minifa.SoftmaxCrossEntropy()
    z = model.forward(x)
    value = loss.forward(z, y)
    model.backward(loss.backward())
    return z, value


def test_fa_equals_bp_when_B_is_W_transpose(rng):
    bp, fa = tied_copies([10, 8, 6, 4])
    x, y = rng.standard_normal((16, 10)), rng.integers(0, 4, 16)
    z_bp, l_bp = run(bp, x, y)
    z_fa, l_fa = run(fa, x, y)
    numpy.testing.assert_array_equal(z_bp, z_fa)
    assert float(l_bp) == float(l_fa)
    for p_bp, p_fa in zip(bp.parameters(), fa.parameters()):
        numpy.testing.assert_array_equal(p_bp.grad, p_fa.grad)


def test_fa_layer_returns_delta_times_B_and_dW_from_fa_deltas(rng):
    fa = minifa.mlp([5, 4, 3], rule="fa", seed=1, dtype="float64")
    first, relu, last = fa.layers
    x, y = rng.standard_normal((6, 5)), rng.integers(0, 3, 6)
    loss = minifa.SoftmaxCrossEntropy()
    loss.forward(fa.forward(x), y)
    e = loss.backward()
    delta_h = last.backward(e)
    numpy.testing.assert_allclose(delta_h, e @ last.B)  # FA: delta @ B, not delta @ W.T
    delta_z = relu.backward(delta_h)
    numpy.testing.assert_allclose(delta_z, (e @ last.B) * (first.x @ first.W + first.b > 0))
    first.grads(delta_z)
    numpy.testing.assert_allclose(first.dW, x.T @ delta_z)
    numpy.testing.assert_allclose(first.db, delta_z.sum(0))
    numpy.testing.assert_allclose(last.dW, relu.forward(first.x @ first.W + first.b).T @ e)


def test_fa_delta_differs_from_true_gradient(rng):
    bp = minifa.mlp([5, 4, 3], rule="bp", seed=2, dtype="float64")
    fa = minifa.mlp([5, 4, 3], rule="fa", seed=2, dtype="float64")
    x, y = rng.standard_normal((6, 5)), rng.integers(0, 3, 6)
    run(bp, x, y)
    run(fa, x, y)
    # same forward weights, so the top layer's gradient agrees ...
    numpy.testing.assert_allclose(bp.layers[-1].dW, fa.layers[-1].dW)
    # ... but the hidden layer learns from delta @ B, not from the true gradient
    assert not numpy.allclose(bp.layers[0].dW, fa.layers[0].dW, rtol=1e-3, atol=1e-6)
    e = numpy.ones((2, 3))
    assert not numpy.allclose(fa.layers[-1].feedback(e), fa.layers[-1].bp_feedback(e))


def test_B_is_fixed_not_a_parameter_and_matches_W(rng):
    fa = minifa.mlp([5, 4, 3], rule="fa", seed=0)
    params = fa.parameters()
    feedback = [layer.B for layer in fa.layers if isinstance(layer, minifa.FALinear)]
    assert all(all(p.value is not B for B in feedback) for p in params)
    assert [p.name for p in params] == ["W", "b", "W", "b"]
    before = [B.copy() for B in feedback]
    opt = minifa.Adam(params, lr=0.1)
    x, y = rng.standard_normal((6, 5)).astype("float32"), rng.integers(0, 3, 6)
    for _ in range(3):
        run(fa, x, y)
        opt.step()
    for layer, B0 in zip([m for m in fa.layers if isinstance(m, minifa.FALinear)], before):
        numpy.testing.assert_array_equal(layer.B, B0)
        assert layer.B.shape == layer.W.T.shape
        assert layer.B.dtype == layer.W.dtype == numpy.float32
        assert type(layer.B) is type(layer.W)


def test_B_is_glorot_uniform_and_independent_of_W():
    layer = minifa.FALinear(300, 200, rng=0, feedback_rng=1, dtype="float64")
    a = (6 / 500) ** 0.5
    assert abs(layer.B).max() <= a and abs(layer.B).max() > 0.99 * a
    assert abs(numpy.corrcoef(layer.B.ravel(), layer.W.T.ravel())[0, 1]) < 0.02


def test_same_seed_same_model_different_seed_different():
    a, b, c = (minifa.mlp([4, 3, 2], rule="fa", seed=s) for s in (5, 5, 6))
    for la, lb, lc in zip(a.layers[::2], b.layers[::2], c.layers[::2]):
        numpy.testing.assert_array_equal(la.W, lb.W)
        numpy.testing.assert_array_equal(la.B, lb.B)
        assert not numpy.array_equal(la.W, lc.W)
