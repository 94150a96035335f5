"""BP gradients against central differences in float64, through minifa.gradcheck."""

import numpy
import pytest

import minifa
from minifa.gradcheck import check_layer, check_model, numerical_grad


@pytest.fixture
def rng():
    return numpy.random.default_rng(42)


def test_linear_gradients(rng):
    layer = minifa.Linear(5, 3, rng=rng, dtype="float64")
    layer.b[:] = rng.standard_normal(3)
    check_layer(layer, rng.standard_normal((4, 5)))


@pytest.mark.parametrize("activation", [minifa.ReLU, minifa.Tanh, minifa.Sigmoid])
def test_activation_gradients(rng, activation):
    z = rng.standard_normal((6, 4)) * 3
    z[numpy.abs(z) < 1e-3] = 0.5  # keep away from ReLU's kink
    check_layer(activation(), z)


def test_sigmoid_is_the_logistic_function_and_finite_far_out():
    z = numpy.array([[-1000.0, -30.0, 0.0, 2.0, 1000.0]])
    h = minifa.Sigmoid().forward(z)
    with numpy.errstate(over="ignore"):
        numpy.testing.assert_allclose(h, 1 / (1 + numpy.exp(-z)), rtol=1e-12, atol=0)
    assert numpy.isfinite(h).all()


@pytest.mark.parametrize("loss", [minifa.SoftmaxCrossEntropy(), minifa.SigmoidCrossEntropy(),
                                  minifa.MeanSquaredError()], ids=repr)
def test_loss_gradients(rng, loss):
    z = rng.standard_normal((7, 5)) * 3
    y = rng.integers(0, 5, 7)
    loss.forward(z, y)
    numpy.testing.assert_allclose(
        loss.backward(), numerical_grad(lambda: float(loss.forward(z, y)), z), 1e-6, 1e-9)


def test_loss_values_by_hand(rng):
    z = rng.standard_normal((7, 5)) * 3
    y = rng.integers(0, 5, 7)
    t = numpy.eye(5)[y]
    p = numpy.exp(z) / numpy.exp(z).sum(1, keepdims=True)
    s = 1 / (1 + numpy.exp(-z))
    want = {
        minifa.SoftmaxCrossEntropy: -numpy.log(p[numpy.arange(7), y]).mean(),
        minifa.SigmoidCrossEntropy: -(t * numpy.log(s) + (1 - t) * numpy.log(1 - s)).sum(1).mean(),
        minifa.MeanSquaredError: (0.5 * ((z - t) ** 2).sum(1)).mean(),
    }
    for kind, value in want.items():
        assert float(kind().forward(z, y)) == pytest.approx(value, rel=1e-12), kind


@pytest.mark.parametrize("loss", [minifa.SoftmaxCrossEntropy(), minifa.SigmoidCrossEntropy()],
                         ids=repr)
def test_cross_entropies_are_stable_for_huge_logits(loss):
    z = numpy.array([[1000.0, -1000.0, -1000.0], [-1000.0, 800.0, -1000.0]])
    value = float(loss.forward(z, numpy.array([0, 1])))
    assert numpy.isfinite(value) and value == pytest.approx(0.0, abs=1e-12)
    assert numpy.isfinite(loss.backward()).all()


def test_losses_refuse_labels_past_the_outputs():
    for loss in (minifa.SigmoidCrossEntropy(), minifa.MeanSquaredError()):
        with pytest.raises(minifa.InputError, match="labels must be 0..2"):
            loss.forward(numpy.zeros((2, 3)), numpy.array([0, 3]))


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
@pytest.mark.parametrize("loss", [minifa.SoftmaxCrossEntropy(), minifa.SigmoidCrossEntropy(),
                                  minifa.MeanSquaredError()], ids=repr)
def test_sequential_bp_gradients(rng, activation, loss):
    model = minifa.mlp([6, 5, 4, 3], rule="bp", activation=activation, seed=3, dtype="float64")
    for layer in model.layers:
        if hasattr(layer, "b"):
            layer.b[:] = 0.1 * rng.standard_normal(layer.b.shape)
    check_model(model, rng.standard_normal((8, 6)), rng.integers(0, 3, 8), loss)


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
    numpy.testing.assert_allclose(delta, numerical_grad(value, x), 1e-6, 1e-8)
