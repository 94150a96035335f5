"""explain(): the backward pass of any Sequential, numbered like the diagnostics,
with the shapes a real backward pass has."""


import numpy
import pytest
from example_scripts import load_example

import minifa
from minifa.diagnostics import diagnose
from minifa.explain import explain
from minifa.layers import (
    BinaryLinear,
    FARadial,
    HardSigmoid,
    HardTanh,
    Layer,
    Radial,
    SignSTE,
    StochasticSignSTE,
)

lenet = load_example("lenet")


class Identity(Layer):
    """A user layer that carries no equation text."""

    def forward(self, x):
        return x

    def bp_feedback(self, delta):
        return delta


def shape(a):
    return "(" + ",".join(str(d) for d in a) + ")"


def line(lines, start):
    found = [text for text in lines if text.startswith(start) or f";  {start}" in text]
    assert len(found) == 1, (start, lines)
    return found[0]


def real_deltas(model, n, k):
    """{layer number: shape of the delta grads() received} from a real backward pass."""
    seen = {}
    trained = [layer for layer in model.layers if layer.param_names]
    for number, layer in enumerate(trained, 1):
        def grads(delta, layer=layer, number=number):
            seen[number] = delta.shape
            type(layer).grads(layer, delta)
        layer.grads = grads
    rng = numpy.random.default_rng(0)
    x = rng.random((n, model.n_in)).astype(model.dtype)
    y = rng.integers(0, k, n)
    loss = minifa.SoftmaxCrossEntropy()
    loss.forward(model.forward(x), y)
    model.backward(loss.backward(), y)
    for layer in trained:
        del layer.grads
    return seen


def check_numbering_and_shapes(model, n, k):
    """Layer l of the text is the l-th layer with parameters (diagnostics' numbering),
    its dW has that layer's W shape, and each delta_l has the real delta's shape."""
    lines = explain(model, n)
    trained = [layer for layer in model.layers if layer.param_names]
    for number, shape_of_delta in real_deltas(model, n, k).items():
        assert shape(shape_of_delta) in line(lines, f"delta_{number} = ").split("    ")[1]
        assert shape(trained[number - 1].W.shape) in line(lines, f"dW_{number} = ")
    rng = numpy.random.default_rng(1)
    with numpy.errstate(invalid="ignore"):  # a saturated layer's zero delta has no angle
        rows = diagnose(model, rng.random((8, model.n_in)).astype(model.dtype),
                        rng.integers(0, k, 8))
    assert sorted(row["layer"] for row in rows) == list(range(1, len(trained) + 1))
    return lines


@pytest.mark.parametrize("rule", ["fa", "bp"])
def test_lenet_shows_both_conv_layers_pooling_and_flatten(rule):
    lines = check_numbering_and_shapes(lenet.lenet(rule=rule), 64, 10)
    matrix = "B" if rule == "fa" else "W"
    assert lines[0] == "e = softmax(z_5) - onehot(y);  delta_5 = e / n    (64,10)"
    assert "dW_3 = h_2.T @ delta_3    (400,120) = (64,400).T @ (64,120)" in lines
    assert f"dh_2 = delta_3 @ {matrix}_3{'.T' if rule == 'bp' else ''}    " \
           "(64,400) = (64,120) @ (120,400)" in lines
    assert "dh_2 = dh_2.reshape(64,16,5,5)    (64,400) -> (64,16,5,5)" in lines
    assert ("dh_2 = dh_2 to the first maximum of each 2x2 window, 0 elsewhere    "
            "(64,16,5,5) -> (64,16,10,10)") in lines
    assert "delta_2 = dh_2 * 1[z_2 > 0]    (64,16,10,10) = (64,16,10,10) * (64,16,10,10)" in lines
    assert "dW_2 = delta_mat_2 @ cols_2.T    (16,150) = (16,6400) @ (6400,150), as (16,6,5,5)" \
        in lines
    assert f"dcols_2 = {matrix}_mat_2.T @ delta_mat_2    (150,6400) = (150,16) @ (16,6400)" \
        in lines
    assert "dh_1 = col2im(dcols_2)    (64,6,14,14) = col2im((150,6400))" in lines
    assert line(lines, "dh_1 = dh_1 to the first maximum").endswith("(64,6,14,14) -> (64,6,28,28)")
    assert "cols_1 = im2col(x)    (64,1,28,28) -> (25,50176)" in lines
    assert "dW_1 = delta_mat_1 @ cols_1.T    (6,25) = (6,50176) @ (50176,25), as (6,1,5,5)" \
        in lines
    assert lines[-1] == "  (nothing below layer 1: its feedback is never computed)"
    assert not any(text.startswith("dcols_1") for text in lines)


def test_dfa_sends_e_through_each_B_of_shape_k_by_in():
    lines = check_numbering_and_shapes(minifa.mlp([784, 128, 64, 10], rule="dfa"), 64, 10)
    assert "delta_2 = (e @ B_3) * 1[z_2 > 0]    (64,64) = (64,10) @ (10,64) * (64,64)" in lines
    assert "delta_1 = (e @ B_2) * 1[z_1 > 0]    (64,128) = (64,10) @ (10,128) * (64,128)" in lines


def test_kolen_pollack_trains_B_only_above_the_first_layer():
    lines = explain(minifa.mlp([12, 10, 8, 4], rule="kp"), 16)
    assert "  B_3 trained: dB_3 = dW_3.T" in lines and "  B_2 trained: dB_2 = dW_2.T" in lines
    assert not any("B_1" in text for text in lines)


def test_radial_layers_show_their_own_equations():
    model = minifa.Sequential(Radial(6, 5, rng=0), minifa.Tanh(), FARadial(5, 4, rng=1),
                              minifa.ReLU(), minifa.Linear(4, 3, rng=2))
    lines = check_numbering_and_shapes(model, 8, 3)
    assert ("dW_2 = 2 (h_1.T @ delta_2 - W_2 * delta_2.sum(0))    "
            "(5,4) = 2 ((8,5).T @ (8,4) - (5,4) * (4,))") in lines
    assert ("delta_1 = (2 (delta_2 @ B_2 - h_1 * delta_2.sum(1, keepdims=True))) * (1 - h_1^2)"
            "    (8,5) = 2 ((8,4) @ (4,5) - (8,5) * (8,1)) * (8,5)") in lines
    assert line(lines, "dW_1 = ").startswith("dW_1 = 2 (x.T @ delta_1 - W_1 * delta_1.sum(0))")
    assert not any(text.startswith("dW_2 = h_1.T") for text in lines)


def test_binary_layers_go_through_Wb():
    model = minifa.Sequential(BinaryLinear(6, 5, rng=0), SignSTE(), BinaryLinear(5, 4, rng=1),
                              HardTanh(), BinaryLinear(4, 3, stochastic=True, rng=2),
                              HardSigmoid(), minifa.Linear(3, 3, rng=3))
    lines = check_numbering_and_shapes(model, 8, 3)
    assert "  Wb_2 = sign(W_2), sign(0) = +1" in lines
    assert line(lines, "  Wb_3 = ").startswith("  Wb_3 = +1 with probability hardsigmoid(W_3)")
    assert line(lines, "delta_1 = ").startswith("delta_1 = (delta_2 @ Wb_2.T) * 1[|z_1| <= 1]")
    assert line(lines, "delta_2 = ").startswith("delta_2 = (delta_3 @ Wb_3.T) * adaste'(z_2)")
    assert line(lines, "delta_3 = ").startswith("delta_3 = (delta_4 @ W_4.T) * 0.5 * 1[|z_3| <= 1]")


def test_a_user_layer_without_text_says_so_in_one_line():
    model = minifa.Sequential(minifa.Linear(6, 5, rng=0), Identity(), minifa.ReLU(),
                              minifa.Linear(5, 3, rng=1), Identity())
    lines = check_numbering_and_shapes(model, 8, 3)
    said = [text for text in lines if "Identity" in text]
    text = "Identity: no equation text (define feedback_expr / derivative_expr to show one)"
    assert said == [f"{text}    (8,3) -> (8,3)", f"{text}    (8,5) -> (8,5)"]
    assert "dh_1 = (delta_2 @ W_2.T) * 1[z_1 > 0]    (8,5) = (8,3) @ (3,5) * (8,5)" in lines
    assert "delta_1 = dh_1    (8,5)" in lines


def test_every_built_in_layer_has_equation_text():
    model = minifa.Sequential(
        minifa.layers.Reshape((1, 6, 6)), minifa.layers.Conv2d(1, 2, 3, padding=1, rng=0),
        minifa.layers.MaxPool2d(2), minifa.layers.FAConv2d(2, 2, 3, rng=1), minifa.Sigmoid(),
        minifa.layers.Flatten(), Radial(2, 6, rng=2), StochasticSignSTE(noise_rng=3),
        FARadial(6, 5, rng=4),
        minifa.mlp([5, 4, 3], rule="brsf").layers[0], minifa.Tanh(), BinaryLinear(4, 3, rng=5))
    lines = check_numbering_and_shapes(model, 4, 3)
    assert not any("no equation text" in text for text in lines)
    for rule in minifa.model.RULES:
        lines = explain(minifa.mlp([6, 5, 4, 3], rule=rule), 4)
        assert not any("no equation text" in text for text in lines), rule


def test_layers_above_the_last_trained_one_fold_into_its_delta():
    model = minifa.Sequential(minifa.Linear(6, 3, rng=0), minifa.Tanh())
    lines = explain(model, 8, loss=minifa.losses.MeanSquaredError())
    assert lines[:2] == ["e = z - onehot(y)    (8,3)",
                         "delta_1 = (e / n) * (1 - h_1^2)    (8,3) = (8,3) * (8,3)"]


def test_explaining_changes_nothing_training_reads():
    model = minifa.Sequential(minifa.Linear(6, 5, rng=0), StochasticSignSTE(noise_rng=1),
                              BinaryLinear(5, 3, stochastic=True, rng=2, noise_rng=3))
    x = numpy.random.default_rng(0).random((4, 6)).astype("float32")
    model.forward(x)
    held = [dict(vars(layer)) for layer in model.layers]
    states = [layer.noise_rng.bit_generator.state for layer in model.layers[1:]]
    explain(model, 16)
    for layer, before in zip(model.layers, held):  # the same objects: caches of batch 4
        assert vars(layer).keys() == before.keys()
        assert all(vars(layer)[name] is value for name, value in before.items())
    assert model.layers[0].x.shape == (4, 6)
    assert [layer.noise_rng.bit_generator.state for layer in model.layers[1:]] == states
