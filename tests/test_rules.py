"""Every learning rule: identity with BP where its feedback can equal W.T, a one-step
hand computation, a negative check, and device/dtype discipline."""

import copy

import numpy
import pytest

import minifa
from minifa.gradcheck import numerical_grad

from strict_backend import SYNCS, StrictArray

RULES = list(minifa.RULES)
SIZES = [6, 5, 4, 3]


def data(n=8, k=3, width=6, seed=0):
    rng = numpy.random.default_rng(seed)
    return rng.standard_normal((n, width)), rng.integers(0, k, n)


def backward(model, x, y):
    loss = minifa.SoftmaxCrossEntropy()
    z = model.forward(x)
    loss.forward(z, y)
    e = loss.backward()
    model.backward(e, y)
    return e


def dense(model):
    return [layer for layer in model.layers if hasattr(layer, "W")]


def grads(model):
    return [layer.dW.copy() for layer in dense(model)]


def relu_mask(model, i):
    """1[z > 0] of the activation after dense layer i."""
    return model.layers[2 * i + 1].z > 0


def test_every_rule_builds_and_trains_the_same_forward_weights():
    bp = minifa.mlp(SIZES, rule="bp", seed=4)
    for rule in RULES:
        model = minifa.mlp(SIZES, rule=rule, seed=4)
        for a, b in zip(dense(bp), dense(model)):
            numpy.testing.assert_array_equal(a.W, b.W)


@pytest.mark.parametrize("rule", RULES)
def test_feedback_stays_out_of_parameters_unless_trained(rule):
    model = minifa.mlp(SIZES, rule=rule, seed=0)
    names = {p.name for p in model.parameters()}
    assert names == ({"W", "b", "B"} if rule == "kp" else {"W", "b"})


# --- identity with BP where the feedback can be the exact transpose ---------------------

def assert_equals_bp(model, x, y, sizes=SIZES):
    bp = minifa.mlp(sizes, rule="bp", seed=0, dtype="float64")
    backward(bp, x, y)
    backward(model, x, y)
    for g_bp, g in zip(grads(bp), grads(model)):
        numpy.testing.assert_array_equal(g_bp, g)


@pytest.mark.parametrize("rule", ["fa", "kp", "wm"])
def test_learned_or_fixed_B_equal_to_W_T_gives_bp(rule):
    model = minifa.mlp(SIZES, rule=rule, seed=0, dtype="float64")
    for layer in dense(model):
        layer.B[...] = layer.W.T
        if rule == "wm":
            layer.lr_mirror = layer.decay = 0.0  # hold the mirror still at B = W.T
    assert_equals_bp(model, *data())


def test_frsf_with_R_equal_to_abs_W_T_gives_bp():
    model = minifa.mlp(SIZES, rule="frsf", seed=0, dtype="float64")
    for layer in dense(model):
        layer.R = numpy.abs(layer.W.T)
    assert_equals_bp(model, *data())


def test_usf_gives_bp_when_all_weights_share_one_magnitude():
    bp = minifa.mlp(SIZES, rule="bp", seed=0, dtype="float64")
    usf = minifa.mlp(SIZES, rule="usf", seed=0, dtype="float64")
    rng = numpy.random.default_rng(1)
    for a, b in zip(dense(bp), dense(usf)):
        signs = numpy.resize([0.5, -0.5], a.W.size)  # as many + as -: std(W) = 0.5
        a.W[...] = b.W[...] = rng.permutation(signs).reshape(a.W.shape)
    x, y = data()
    backward(bp, x, y)
    backward(usf, x, y)
    for g_bp, g in zip(grads(bp), grads(usf)):
        numpy.testing.assert_allclose(g_bp, g, rtol=1e-14, atol=1e-16)


def test_dfa_one_hidden_layer_with_B_equal_to_W_T_gives_bp():
    sizes = [6, 5, 3]
    model = minifa.mlp(sizes, rule="dfa", seed=0, dtype="float64")
    top = dense(model)[-1]
    top.B[...] = top.W.T  # (k, in): the only direct path in a one-hidden-layer net
    assert_equals_bp(model, *data(), sizes=sizes)


def test_fa_radial_with_B_equal_to_W_T_gives_radial():
    rng = numpy.random.default_rng(0)
    x, G = rng.standard_normal((5, 4)), rng.standard_normal((5, 3))
    bp = minifa.Radial(4, 3, rng=1, dtype="float64")
    fa = minifa.FARadial(4, 3, rng=1, dtype="float64")
    fa.B = fa.W.T.copy()
    numpy.testing.assert_array_equal(bp.forward(x), fa.forward(x))
    numpy.testing.assert_array_equal(bp.backward(G), fa.backward(G))
    numpy.testing.assert_array_equal(bp.dW, fa.dW)
    fa.B = numpy.random.default_rng(2).standard_normal((3, 4))
    assert not numpy.allclose(bp.backward(G), fa.backward(G))


def test_radial_gradients_against_central_differences():
    rng = numpy.random.default_rng(3)
    layer = minifa.Radial(4, 3, rng=0, dtype="float64")
    layer.b[...] = rng.standard_normal(3)
    x, G = rng.standard_normal((5, 4)), rng.standard_normal((5, 3))

    def loss():
        return float((layer.forward(x) * G).sum())

    direct = -((x[:, :, None] - layer.W[None]) ** 2).sum(1) + layer.b
    numpy.testing.assert_allclose(layer.forward(x), direct, rtol=1e-12)
    delta_in = layer.backward(G)
    numpy.testing.assert_allclose(layer.dW, numerical_grad(loss, layer.W), 1e-6, 1e-8)
    numpy.testing.assert_allclose(layer.db, numerical_grad(loss, layer.b), 1e-6, 1e-8)
    numpy.testing.assert_allclose(delta_in, numerical_grad(loss, x), 1e-6, 1e-8)


# --- one step of each rule against a hand computation ----------------------------------

def hidden_dW_by_hand(model, x, e, y, rule):
    """dW of the first layer, from the equation each rule's docstring states."""
    L1, L2, L3 = dense(model)
    n = x.shape[0]
    onehot = numpy.eye(3)[y] / n
    h1 = numpy.maximum(x @ L1.W + L1.b, 0)
    h2 = numpy.maximum(h1 @ L2.W + L2.b, 0)
    signal = {"dfa": e, "drtp": onehot}
    if rule in signal:
        d2 = (signal[rule] @ L3.B) * (h2 > 0)  # B_l (k, in) from the output, not from above
        d1 = (signal[rule] @ L2.B) * (h1 > 0)
    else:
        d2 = (e @ L3.B) * (h2 > 0)
        d1 = (d2 @ L2.B) * (h1 > 0)
    return x.T @ d1


@pytest.mark.parametrize("rule", ["fa", "dfa", "drtp", "usf", "frsf", "kp"])
def test_one_step_matches_hand_computation(rule):
    model = minifa.mlp(SIZES, rule=rule, seed=5, dtype="float64")
    x, y = data(seed=1)
    e = backward(model, x, y)
    if rule in ("usf", "frsf"):
        for layer in dense(model):  # the B each layer used this step
            scale = layer.W.std() if rule == "usf" else 1.0
            magnitude = 1.0 if rule == "usf" else layer.R
            numpy.testing.assert_allclose(layer.B, magnitude * numpy.sign(layer.W).T * scale)
    numpy.testing.assert_allclose(dense(model)[0].dW, hidden_dW_by_hand(model, x, e, y, rule),
                                  rtol=1e-12, atol=1e-14)


def test_brsf_redraws_R_every_step_from_its_noise_stream():
    model = minifa.mlp(SIZES, rule="brsf", seed=5, dtype="float64")
    top = dense(model)[-1]
    x, y = data(seed=1)
    expected = []
    for _ in range(2):
        rng = copy.deepcopy(top.noise_rng)
        a = (6 / (top.n_in + top.n_out)) ** 0.5
        expected.append(numpy.abs(rng.uniform(-a, a, (top.n_out, top.n_in))))
        backward(model, x, y)
        numpy.testing.assert_allclose(top.B, expected[-1] * numpy.sign(top.W).T)
    assert not numpy.allclose(expected[0], expected[1])


def test_kp_moves_B_by_the_transpose_of_W_update_and_the_same_decay():
    model = minifa.mlp(SIZES, rule="kp", seed=5, dtype="float64")
    lr, wd = 0.1, 0.5
    opt = minifa.SGD(model.parameters(), lr=lr, weight_decay=wd)
    x, y = data(seed=1)
    before = [(layer.W.copy(), layer.B.copy()) for layer in dense(model)]
    backward(model, x, y)
    dWs = grads(model)
    opt.step()
    for layer, (W, B), dW in zip(dense(model), before, dWs):
        numpy.testing.assert_allclose(layer.W, (1 - lr * wd) * W - lr * dW, rtol=1e-12)
        if layer is dense(model)[0]:  # sends no delta down: its B is not trained
            numpy.testing.assert_array_equal(layer.B, B)
            continue
        numpy.testing.assert_allclose(layer.B, (1 - lr * wd) * B - lr * dW.T, rtol=1e-12)
        numpy.testing.assert_allclose(layer.W - layer.B.T, (1 - lr * wd) * (W - B.T),
                                      rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("decay, shrink", [
    (0.0, 1.0),  # without decay nothing pulls B onto W.T
    (minifa.WarmupDecay(start=4.0, steps=2, then=1.0), (1 - 0.2) ** 2 * (1 - 0.05) ** 3),
])
def test_kp_with_adam_shrinks_W_minus_B_T_by_the_decay_alone(decay, shrink):
    model = minifa.mlp(SIZES, rule="kp", seed=5, dtype="float64")
    opt = minifa.Adam(model.parameters(), lr=0.05, weight_decay=decay)
    diff = [layer.W - layer.B.T for layer in dense(model)[1:]]
    for seed in range(5):
        backward(model, *data(seed=seed))
        opt.step()
    for layer, d in zip(dense(model)[1:], diff):
        numpy.testing.assert_allclose(layer.W - layer.B.T, shrink * d, atol=1e-12)


def test_kp_trains_no_B_in_the_first_layer_which_sends_no_delta():
    model = minifa.mlp(SIZES, rule="kp", seed=5, dtype="float64")
    first, *rest = dense(model)
    names = [(p.layer, p.name) for p in model.parameters()]
    assert (first, "B") not in names and all((layer, "B") in names for layer in rest)
    alone = minifa.KPLinear(3, 2)  # outside a model it cannot know, so it trains B
    assert alone.param_names == ("W", "b", "B")


def test_weight_mirror_step_by_hand():
    model = minifa.mlp(SIZES, rule="wm", seed=5, dtype="float64")
    top = dense(model)[-1]
    B0 = top.B.copy()
    rng = copy.deepcopy(top.noise_rng)
    x, y = data(seed=1)
    backward(model, x, y)
    noise = rng.standard_normal((8, top.n_in))
    expected = (1 - top.decay) * B0 + top.lr_mirror / 8 * ((noise @ top.W).T @ noise)
    numpy.testing.assert_allclose(top.B, expected, rtol=1e-12)


def test_weight_mirror_converges_to_a_multiple_of_W_T():
    layer = minifa.WMLinear(20, 10, rng=0, feedback_rng=1, noise_rng=2, dtype="float64",
                            lr_mirror=0.05, decay=0.05)
    for _ in range(600):
        layer.mirror(64)
    cos = (layer.B * layer.W.T).sum() / numpy.linalg.norm(layer.B) / numpy.linalg.norm(layer.W)
    assert cos > 0.97


# --- negative checks: each non-BP rule sends something other than the gradient ---------

@pytest.mark.parametrize("rule", [r for r in RULES if r != "bp"])
def test_rule_differs_from_the_true_gradient(rule):
    bp = minifa.mlp(SIZES, rule="bp", seed=0, dtype="float64")
    model = minifa.mlp(SIZES, rule=rule, seed=0, dtype="float64")
    x, y = data()
    backward(bp, x, y)
    backward(model, x, y)
    numpy.testing.assert_allclose(dense(bp)[-1].dW, dense(model)[-1].dW)  # the output is exact
    assert not numpy.allclose(dense(bp)[0].dW, dense(model)[0].dW, rtol=1e-3, atol=1e-8)


# --- device and dtype ------------------------------------------------------------------

@pytest.mark.parametrize("rule", RULES)
def test_feedback_on_the_model_device_and_dtype_with_no_sync(strict, rule):
    model = minifa.mlp(SIZES, rule=rule, seed=0, backend=strict)
    opt = minifa.Adam(model.parameters(), weight_decay=0.1 if rule == "kp" else 0.0)
    x, y = data()
    loader = minifa.DataLoader(x.astype("float32"), y, batch_size=4, backend=strict)
    batches = list(loader)
    SYNCS["count"] = 0
    for xb, yb in batches:
        minifa.train_step(model, minifa.SoftmaxCrossEntropy(), opt, xb, yb)
    assert SYNCS["count"] == 0
    for layer in dense(model):
        for name in ("W", "B", "R"):
            if hasattr(layer, name) and getattr(layer, name) is not None:
                assert isinstance(getattr(layer, name), StrictArray), (rule, name)
                assert getattr(layer, name).dtype == numpy.float32, (rule, name)


@pytest.mark.parametrize("rule", ["brsf", "wm", "drtp"])
def test_random_rules_are_reproducible(rule):
    def run():
        model = minifa.mlp(SIZES, rule=rule, seed=3, dtype="float64")
        opt = minifa.Adam(model.parameters())
        for seed in range(3):
            backward(model, *data(seed=seed))
            opt.step()
        return [layer.W.copy() for layer in dense(model)]

    for a, b in zip(run(), run()):
        numpy.testing.assert_array_equal(a, b)
