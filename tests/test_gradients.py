"""BP gradients against central differences, in float64."""

import numpy
import pytest

import minifa

from gradcheck import numerical_grad

RTOL, ATOL = 1e-6, 1e-8


@pytest.fixture
def rng():
    return numpy.random.default_rng(42)


def test_linear_gradients(rng):
    layer = minifa.Linear(5, 3, rng=rng, dtype="float64")
    layer.b[:] = rng.standard_normal(3)
    x = rng.standard_normal((4, 5))
    G = rng.standard_normal((4, 3))  # L = sum(z * G), so dL/dz = G

    def loss():
        return float((layer.forward(x) * G).sum())

    layer.forward(x)
    delta_in = layer.backward(G)
    numpy.testing.assert_allclose(layer.dW, numerical_grad(loss, layer.W), RTOL, ATOL)
    numpy.testing.assert_allclose(layer.db, numerical_grad(loss, layer.b), RTOL, ATOL)
    numpy.testing.assert_allclose(delta_in, numerical_grad(loss, x), RTOL, ATOL)


def test_relu_gradient(rng):
    relu = minifa.ReLU()
    z = rng.standard_normal((6, 4))
    z[numpy.abs(z) < 1e-3] = 0.5  # keep away from the kink
    G = rng.standard_normal((6, 4))
    relu.forward(z)
    numpy.testing.assert_allclose(
        relu.backward(G), numerical_grad(lambda: float((relu.forward(z) * G).sum()), z),
        RTOL, ATOL)


def test_tanh_gradient(rng):
    tanh = minifa.Tanh()
    z, G = rng.standard_normal((6, 4)), rng.standard_normal((6, 4))
    tanh.forward(z)
    numpy.testing.assert_allclose(
        tanh.backward(G), numerical_grad(lambda: float((tanh.forward(z) * G).sum()), z),
        RTOL, ATOL)


def test_softmax_cross_entropy_gradient_and_value(rng):
    loss = minifa.SoftmaxCrossEntropy()
    z = rng.standard_normal((7, 5)) * 3
    y = rng.integers(0, 5, 7)
    value = float(loss.forward(z, y))
    p = numpy.exp(z) / numpy.exp(z).sum(1, keepdims=True)
    assert value == pytest.approx(-numpy.log(p[numpy.arange(7), y]).mean(), rel=1e-12)
    numpy.testing.assert_allclose(
        loss.backward(), numerical_grad(lambda: float(loss.forward(z, y)), z), RTOL, ATOL)


def test_softmax_cross_entropy_is_stable_for_huge_logits():
    loss = minifa.SoftmaxCrossEntropy()
    z = numpy.array([[1000.0, 0.0, -1000.0], [0.0, 800.0, 0.0]])
    value = float(loss.forward(z, numpy.array([0, 1])))
    assert numpy.isfinite(value) and value == pytest.approx(0.0, abs=1e-12)
    assert numpy.isfinite(loss.backward()).all()


def test_sequential_bp_gradients(rng):
    model = minifa.mlp([6, 5, 4, 3], rule="bp", seed=3, dtype="float64")
    for layer in model.layers:
        if hasattr(layer, "b"):
            layer.b[:] = 0.1 * rng.standard_normal(layer.b.shape)
    loss = minifa.SoftmaxCrossEntropy()
    x = rng.standard_normal((8, 6))
    y = rng.integers(0, 3, 8)

    def value():
        return float(loss.forward(model.forward(x), y))

    value()
    model.backward(loss.backward())
    for p in model.parameters():
        numpy.testing.assert_allclose(p.grad, numerical_grad(value, p.value), RTOL, ATOL,
                                      err_msg=repr(p))


def test_backward_returns_delta_for_input(rng):
    """Sequential.backward skips the first layer's delta; a layer's own backward returns it."""
    model = minifa.mlp([4, 3, 2], rule="bp", seed=0, dtype="float64")
    loss = minifa.SoftmaxCrossEntropy()
    x = rng.standard_normal((5, 4))
    y = rng.integers(0, 2, 5)

    def value():
        return float(loss.forward(model.forward(x), y))

    value()
    delta = loss.backward()
    for layer in reversed(model.layers):
        delta = layer.backward(delta)
    numpy.testing.assert_allclose(delta, numerical_grad(value, x), RTOL, ATOL)
