"""minifa.gradcheck: it passes every built-in layer and catches broken ones."""

import numpy
import pytest

import minifa
from minifa.gradcheck import check_feedback, check_layer, check_model
from minifa.layers.conv import Conv2d, FAConv2d, Flatten, MaxPool2d, Reshape

F64 = dict(dtype="float64")


@pytest.fixture
def rng():
    return numpy.random.default_rng(7)


def dense_layers():
    """One of every dense layer, float64, each with its own default draws."""
    return [
        minifa.Linear(5, 4, **F64), minifa.FALinear(5, 4, **F64),
        minifa.DFALinear(5, 4, 4, **F64), minifa.DRTPLinear(5, 4, 4, **F64),
        minifa.USFLinear(5, 4, **F64), minifa.FRSFLinear(5, 4, **F64),
        minifa.BRSFLinear(5, 4, **F64), minifa.KPLinear(5, 4, **F64),
        minifa.WMLinear(5, 4, **F64), minifa.Radial(5, 4, **F64), minifa.FARadial(5, 4, **F64),
    ]


@pytest.mark.parametrize("layer", dense_layers(), ids=repr)
def test_every_dense_layer_passes(layer, rng):
    check_layer(layer, rng.standard_normal((3, 5)))


@pytest.mark.parametrize("make, shape", [
    (lambda: Conv2d(2, 3, 3, **F64), (2, 2, 5, 5)),
    (lambda: Conv2d(2, 3, (2, 3), stride=2, padding=1, **F64), (2, 2, 5, 6)),
    (lambda: FAConv2d(2, 3, 3, padding=1, **F64), (2, 2, 4, 4)),
    (lambda: MaxPool2d(2), (2, 3, 4, 6)),
    (lambda: Flatten(), (2, 3, 2, 2)),
    (lambda: Reshape((2, 3)), (4, 6)),
    (lambda: minifa.ReLU(), (4, 5)),
    (lambda: minifa.Tanh(), (4, 5)),
    (lambda: minifa.Sigmoid(), (4, 5)),
    (lambda: minifa.HardSigmoid(), (4, 5)),
], ids=["conv", "conv-stride-pad", "faconv", "maxpool", "flatten", "reshape", "relu", "tanh",
        "sigmoid", "hardsigmoid"])
def test_every_other_layer_passes(make, shape, rng):
    x = rng.standard_normal(shape)
    x[numpy.abs(x) < 1e-2] = 0.5  # away from the kinks of ReLU and HardSigmoid
    x[numpy.abs(numpy.abs(x) - 1) < 1e-2] = 0.5
    check_layer(make(), x)


def test_binary_layers_where_a_gradient_exists(rng):
    for stochastic in (False, True):  # a stochastic forward is rewound between evaluations
        layer = minifa.BinaryLinear(5, 4, stochastic=stochastic, **F64)
        check_layer(layer, rng.standard_normal((3, 5)), wrt=("x", "b"))
        with pytest.raises(minifa.GradientCheckError, match="dW"):  # sign(W): the STE's
            check_layer(layer, rng.standard_normal((3, 5)))
    inside = rng.uniform(-0.9, 0.9, (4, 5))
    check_layer(minifa.HardTanh(), inside)  # AdaSTE equals hardtanh's derivative inside
    with pytest.raises(minifa.GradientCheckError):
        check_layer(minifa.SignSTE(), inside)  # a surrogate, not sign's derivative


class DoubledDW(minifa.Linear):
    def grads(self, delta):
        super().grads(delta)
        self.dW *= 2.0


class HalvedInputGradient(minifa.Linear):
    def bp_feedback(self, delta):
        return 0.5 * (delta @ self.W.T)


class WrongTanh(minifa.Tanh):
    def backward(self, delta):
        return delta * (1.0 - self.h)  # should be 1 - h^2


@pytest.mark.parametrize("layer, name", [
    (DoubledDW(5, 4, **F64), "DoubledDW(5, 4) dW"),
    (HalvedInputGradient(5, 4, **F64), "HalvedInputGradient(5, 4) bp_feedback"),
    (WrongTanh(), "WrongTanh() bp_feedback"),
], ids=["doubled-dW", "halved-input-gradient", "wrong-derivative"])
def test_broken_layers_fail_with_one_line_naming_the_array(layer, name, rng):
    with pytest.raises(minifa.GradientCheckError) as info:
        check_layer(layer, rng.standard_normal((3, 5)))
    message = str(info.value)
    assert message.startswith(name) and "\n" not in message
    assert "relative error" in message and " vs " in message
    assert isinstance(info.value, AssertionError)  # pytest shows a failure, not an error


def test_wrt_names_unknown_array():
    with pytest.raises(minifa.InputError, match="no trained array 'V'"):
        check_layer(minifa.Linear(2, 2, **F64), numpy.zeros((1, 2)), wrt=("V",))


def test_float32_is_one_clear_line(rng):
    with pytest.raises(minifa.InputError, match="runs in float64.*dtype='float64'"):
        check_layer(minifa.Linear(5, 4), rng.standard_normal((3, 5)).astype("float32"))
    with pytest.raises(minifa.InputError, match="Linear.W is float32"):
        check_layer(minifa.Linear(5, 4), rng.standard_normal((3, 5)))


def test_layer_without_forward_and_wrong_shapes_are_one_line(rng):
    class NoForward(minifa.Layer):
        pass

    class Unchecked(minifa.Layer):  # no shape checks of its own
        def __init__(self):
            self.W = numpy.ones((3, 2))

        def forward(self, x):
            return x @ self.W

    with pytest.raises(minifa.InputError, match="NoForward defines no forward"):
        check_layer(NoForward(), rng.standard_normal((2, 3)))
    with pytest.raises(minifa.InputError, match=r"expects input of shape \(batch, 5\)"):
        check_layer(minifa.Linear(5, 4, **F64), rng.standard_normal((3, 6)))
    with pytest.raises(minifa.InputError, match=r"forward\(x\) failed on an input of shape "
                       r"\(2, 4\): ValueError"):
        check_layer(Unchecked(), rng.standard_normal((2, 4)))
    with pytest.raises(minifa.InputError, match="needs layers with forward"):
        check_layer(object(), rng.standard_normal((2, 4)))
    with pytest.raises(minifa.InputError, match="x must be an array"):
        check_layer(minifa.Linear(5, 4, **F64), [[0.0] * 5])


def exact(layer):
    """Make ``layer``'s feedback the exact one, the way its rule allows."""
    kind = type(layer).__name__
    if kind in ("FALinear", "KPLinear", "DFALinear", "FARadial"):
        layer.B[...] = layer.W.T
    elif kind == "WMLinear":
        layer.B[...] = layer.W.T
        layer.decay = layer.lr_mirror = 0.0  # the mirror step keeps B as it is
    elif kind == "USFLinear":  # B = sign(W).T * std(W) is W.T when W is +-0.3, mean 0
        layer.W[...] = 0.3 * numpy.resize([1.0, -1.0], layer.W.size).reshape(layer.W.shape)
    elif kind == "FRSFLinear":  # B = |R| * sign(W).T is W.T when |R| = |W.T|
        layer.R[...] = numpy.abs(layer.W.T)
    elif kind == "FAConv2d":
        layer.B[...] = layer.W
    else:  # brSF redraws |R_t| every step; DRTP sends the targets: neither can be exact
        layer.feedback, layer.direct = layer.bp_feedback, False
    return layer


RULE_LAYERS = [layer for layer in dense_layers() if type(layer).__name__ not in
               ("Linear", "Radial")] + [FAConv2d(2, 3, 3, **F64)]


@pytest.mark.parametrize("layer", RULE_LAYERS, ids=repr)
def test_check_feedback_fails_every_rule_and_passes_its_exact_form(layer, rng):
    x = rng.standard_normal((3, 2, 4, 4) if isinstance(layer, Conv2d) else (3, 5))
    with pytest.raises(minifa.GradientCheckError, match=r"feedback\(delta\) disagrees.*angle"):
        check_feedback(layer, x)
    check_feedback(exact(layer), x)


def test_check_feedback_passes_backprop(rng):
    check_feedback(minifa.Linear(5, 4, **F64), rng.standard_normal((3, 5)))
    check_feedback(Conv2d(2, 3, 3, **F64), rng.standard_normal((3, 2, 4, 4)))


def test_check_model_passes_bp_nets_and_fails_fa(rng):
    check_model(minifa.mlp([5, 4, 3], rule="bp", seed=1, **F64), rng.standard_normal((6, 5)),
                rng.integers(0, 3, 6))
    conv = minifa.Sequential(Reshape((1, 6, 6)), Conv2d(1, 2, 3, rng=1, **F64), minifa.ReLU(),
                             MaxPool2d(2), Flatten(), minifa.Linear(8, 3, rng=2, **F64))
    check_model(conv, rng.standard_normal((4, 36)), rng.integers(0, 3, 4))
    fa = minifa.mlp([5, 4, 3], rule="fa", seed=1, **F64)
    with pytest.raises(minifa.GradientCheckError, match=r"parameter 0 \(FALinear.W\)"):
        check_model(fa, rng.standard_normal((6, 5)), rng.integers(0, 3, 6))
    with pytest.raises(minifa.InputError, match="a minifa.Sequential"):
        check_model(minifa.Linear(2, 2, **F64), rng.standard_normal((2, 2)), numpy.zeros(2))


def test_checks_leave_random_generators_where_they_were(rng):
    layer = minifa.StochasticSignSTE(noise_rng=3)
    state = layer.noise_rng.bit_generator.state
    with pytest.raises(minifa.GradientCheckError):
        check_layer(layer, rng.uniform(-0.9, 0.9, (2, 3)))
    assert layer.noise_rng.bit_generator.state == state
