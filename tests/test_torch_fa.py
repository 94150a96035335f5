"""benchmarks/torch_fa.py, the PyTorch FA layer compare_torch.py times, computes
minifa's numbers: from the same W, b and B (float64) it gets the same loss, the same
delta at every layer and the same dW, db; its BP control gets BP's instead."""

import importlib.util
from pathlib import Path

import numpy
import pytest

import minifa

torch = pytest.importorskip("torch")

SIZES = [20, 16, 12, 5]


def load_torch_fa():
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "torch_fa.py"
    spec = importlib.util.spec_from_file_location("torch_fa", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


torch_fa = load_torch_fa()


@pytest.fixture
def batch():
    rng = numpy.random.default_rng(0)
    return rng.standard_normal((8, SIZES[0])), rng.integers(0, SIZES[-1], 8)


def dense(model):
    return [layer for layer in model.layers if hasattr(layer, "W")]


def minifa_pass(model, x, y, feedback):
    """Loss, each dense layer's delta (input side first) and [(dW, db), ...] of
    ``model``, with ``feedback(layer, delta)`` sending each delta down."""
    loss = minifa.SoftmaxCrossEntropy()
    value = float(loss.forward(model.forward(x), y))
    deltas = [loss.backward()]
    for i in range(len(model.layers) - 1, 0, -2):  # dense at i, its ReLU at i - 1
        deltas.insert(0, model.layers[i - 1].backward(feedback(model.layers[i], deltas[0])))
    for layer, delta in zip(dense(model), deltas):
        layer.grads(delta)  # dW = x.T @ delta, db = sum_n delta, from the layer's input x
    return value, deltas, [(layer.dW.copy(), layer.db.copy()) for layer in dense(model)]


def torch_pass(model, x, y):
    """The same three things from the torch MLP, by autograd."""
    zs = []
    h = torch.from_numpy(x)
    for i, layer in enumerate(model.dense):
        zs.append(layer(h))
        zs[-1].retain_grad()
        h = torch.relu(zs[-1]) if i < len(model.dense) - 1 else zs[-1]
    loss = torch.nn.functional.cross_entropy(h, torch.from_numpy(y))
    loss.backward()
    return (loss.item(), [z.grad.numpy() for z in zs],
            [(d.W.grad.numpy(), d.b.grad.numpy()) for d in model.dense])


def arrays(model):
    return [(layer.W, layer.b, layer.B) for layer in dense(model)]


def assert_same(got, want):
    value, deltas, grads = got
    numpy.testing.assert_allclose(value, want[0], rtol=1e-12)
    for a, b in zip(deltas, want[1]):
        numpy.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-15)
    for (dW, db), (dW_, db_) in zip(grads, want[2]):
        numpy.testing.assert_allclose(dW, dW_, rtol=1e-10, atol=1e-15)
        numpy.testing.assert_allclose(db, db_, rtol=1e-10, atol=1e-15)


def test_torch_fa_has_minifas_deltas_and_gradients(batch):
    model = minifa.mlp(SIZES, rule="fa", seed=0, dtype="float64")
    want = minifa_pass(model, *batch, lambda layer, delta: layer.feedback(delta))
    got = torch_pass(torch_fa.MLP(arrays(model)), *batch)
    assert_same(got, want)
    assert got[1][0].dtype == numpy.float64


def test_its_bp_control_has_backprops_and_differs_from_fa(batch):
    model = minifa.mlp(SIZES, rule="fa", seed=0, dtype="float64")
    bp = minifa_pass(model, *batch, lambda layer, delta: layer.bp_feedback(delta))
    fa = torch_pass(torch_fa.MLP(arrays(model)), *batch)
    assert_same(torch_pass(torch_fa.MLP(arrays(model), rule="bp"), *batch), bp)
    assert not numpy.allclose(fa[1][0], bp[1][0], rtol=1e-3)  # the hidden deltas differ
    numpy.testing.assert_allclose(fa[1][-1], bp[1][-1])  # the output's do not


def test_a_few_adam_steps_agree_with_minifa(batch):
    x, y = batch
    model = minifa.mlp(SIZES, rule="fa", seed=0, dtype="float64")
    net = torch_fa.MLP(arrays(model))
    start = dense(model)[0].W.copy()
    opt = minifa.Adam(model.parameters(), lr=1e-2)
    topt = torch.optim.Adam(net.parameters(), lr=1e-2)
    loss = minifa.SoftmaxCrossEntropy()
    for _ in range(5):
        minifa.train_step(model, loss, opt, x, y)
        topt.zero_grad()
        torch.nn.functional.cross_entropy(net(torch.from_numpy(x)), torch.from_numpy(y)).backward()
        topt.step()
    for layer, d in zip(dense(model), net.dense):
        numpy.testing.assert_allclose(d.W.detach().numpy(), layer.W, rtol=1e-9, atol=1e-12)
        numpy.testing.assert_allclose(d.b.detach().numpy(), layer.b, rtol=1e-9, atol=1e-12)
    assert not numpy.allclose(dense(model)[0].W, start)  # they moved


def test_b_is_a_buffer_not_a_parameter_and_rules_are_checked():
    model = minifa.mlp(SIZES, rule="fa", seed=0, dtype="float64")
    net = torch_fa.MLP(arrays(model))
    assert {name.split(".")[-1] for name, _ in net.named_parameters()} == {"W", "b"}
    assert [name for name, _ in net.named_buffers()] == [f"dense.{i}.B" for i in range(3)]
    with pytest.raises(ValueError, match="rule"):
        torch_fa.Dense(*arrays(model)[0], rule="dfa")
