"""Property-based tests (Hypothesis) for minifa's public surface.

Every test with ``@given`` runs under the settings profile ``minifa-properties``
(``deadline=None``; ``database=None``, so no example database is kept, though
Hypothesis still caches constants in a self-gitignored ``.hypothesis/``;
``print_blob=True``, so a failure prints its reproduction blob), with the example
count given beside it; ``MINIFA_PROPERTY_SCALE=k`` multiplies every count by k
for a deeper search. Examples per property:

    1. layer forward/backward, valid input
        test_dense_layers_forward_backward ............... 50
        test_conv_layers_forward_backward ................ 30
        test_shape_layers_forward_backward ............... 30
        test_maxpool_values_and_first_max_routing ........ 30
        test_activations_forward_backward ................ 30
    2. invalid input gives one-line InputError
        test_dense_layers_reject_bad_input ............... 50
        test_conv_layers_reject_bad_input ................ 30
        test_reshape_and_maxpool_reject_bad_input ........ 25
        test_activations_accept_other_dtypes ............. 25
    3. SoftmaxCrossEntropy
        test_loss_finite_nonnegative_rows_sum_to_zero .... 50
        test_loss_full_finite_range_never_nan ............ 30
        test_loss_equal_logits_is_log_k .................. 30
    4. DataLoader
        test_loader_rejects_bad_data ..................... 50
        test_loader_epoch_coverage ....................... 50
        test_loader_scales_unsigned_pixels ............... 25
    5. train
        test_train_rejects_non_positive_epochs ........... 25
        test_train_rejects_labels_out_of_range ........... 30
    6. read_idx
        test_read_idx_arbitrary_bytes .................... 50
        test_read_idx_mutated_valid_files ................ 50
    7. mlp
        test_mlp_rejects_bad_arguments ................... 50
        test_mlp_every_rule_takes_a_step ................. 25
                                                 total   785

The failing inputs these searches found (absurd IDX headers, a flipped gzip
byte, unchecked loss input, bad dtypes, seeds and kernel sizes, ...) are pinned
as plain parametrized tests below, so they run the same way every time; the
properties leave those inputs out with a comment saying where they are covered.
"""

import gzip
import math
import os
import struct
import tracemalloc
import zlib

import numpy
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minifa
from minifa.data.mnist import read_idx
from minifa.model import ACTIVATIONS

settings.register_profile(
    "minifa-properties",
    deadline=None,
    database=None,
    print_blob=True,
    max_examples=30,
    suppress_health_check=[HealthCheck.too_slow],
)
PROFILE = settings.get_profile("minifa-properties")


# MINIFA_PROPERTY_SCALE=20 runs 20x the examples below (a deeper, slower search).
SCALE = float(os.environ.get("MINIFA_PROPERTY_SCALE", "1"))


def examples(n):
    """The profile with ``n`` examples (counts are listed in the module docstring)."""
    return settings(PROFILE, max_examples=max(1, round(n * SCALE)))


DTYPES = ("float32", "float64")
dtypes = st.sampled_from(DTYPES)
seeds = st.integers(0, 2**32 - 1)
# Moderate finite values, exactly representable in both float dtypes.
moderate = st.floats(-10, 10, width=32)
BAD_DTYPES = ("int8", "int32", "int64", "uint8", "bool", "float16", "complex64")


def arrays(dtype, shape, elements=moderate):
    return hnp.arrays(numpy.dtype(dtype), shape, elements=elements)


def other_float(dtype):
    return "float64" if numpy.dtype(dtype) == numpy.float32 else "float32"


def raises_one_line(exc_type, fn, *args, **kwargs):
    """``fn`` raises ``exc_type`` with a non-empty one-line message; returns the message.

    Any other exception (a raw NumPy error) propagates and fails the test.
    """
    with pytest.raises(exc_type) as info:
        fn(*args, **kwargs)
    message = str(info.value)
    assert message.strip(), f"empty message from {type(info.value).__name__}"
    assert "\n" not in message, f"multi-line message: {message!r}"
    return message


def assert_finite(a, what):
    assert numpy.isfinite(a).all(), f"{what} holds NaN or inf"


# ---------------------------------------------------------------------------
# 1. Layers: forward/backward over random valid shapes and dtypes
# ---------------------------------------------------------------------------

DENSE_KINDS = (
    "Linear", "FALinear", "DFALinear", "DRTPLinear", "USFLinear", "FRSFLinear",
    "BRSFLinear", "KPLinear", "WMLinear", "Radial", "FARadial", "BinaryLinear",
    "BinaryLinear(stochastic)",
)
DIRECT = ("DFALinear", "DRTPLinear")


def make_dense(kind, n_in, n_out, dtype, seed, n_classes=3):
    kw = dict(rng=seed, dtype=dtype)
    if kind in DIRECT:
        return getattr(minifa, kind)(n_in, n_out, n_classes, **kw)
    if kind == "BinaryLinear(stochastic)":
        return minifa.BinaryLinear(n_in, n_out, stochastic=True, noise_rng=seed, **kw)
    return getattr(minifa, kind)(n_in, n_out, **kw)


def check_backward(layer, x, delta, **direct):
    d_in = layer.backward(delta, **direct)
    assert d_in.shape == x.shape, f"{layer!r}: backward gave {d_in.shape}, input was {x.shape}"
    assert d_in.dtype == x.dtype, f"{layer!r}: backward gave {d_in.dtype}, input was {x.dtype}"
    assert_finite(d_in, f"{layer!r} backward")
    for p in layer.parameters():
        assert p.grad.shape == p.value.shape and p.grad.dtype == p.value.dtype, repr(p)
        assert_finite(p.grad, repr(p))


@examples(50)
@given(data=st.data(), kind=st.sampled_from(DENSE_KINDS), n=st.integers(1, 8),
       n_in=st.integers(1, 8), n_out=st.integers(1, 8), k=st.integers(1, 5), dtype=dtypes,
       seed=seeds)
def test_dense_layers_forward_backward(data, kind, n, n_in, n_out, k, dtype, seed):
    layer = make_dense(kind, n_in, n_out, dtype, seed, n_classes=k)
    x = data.draw(arrays(dtype, (n, n_in)), label="x")
    z = layer.forward(x)
    assert z.shape == (n, n_out) and z.dtype == numpy.dtype(dtype)
    assert_finite(z, f"{layer!r} forward")
    direct = {}
    if kind in DIRECT:  # what Sequential.backward hands them: output error and labels
        direct["e"] = data.draw(arrays(dtype, (n, k)), label="e")
        direct["y"] = data.draw(hnp.arrays(numpy.int64, (n,), elements=st.integers(0, k - 1)),
                                label="y")
    check_backward(layer, x, data.draw(arrays(dtype, (n, n_out)), label="delta"), **direct)


@st.composite
def conv_cases(draw):
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    stride, padding = draw(st.integers(1, 2)), draw(st.integers(0, 1))
    h = draw(st.integers(max(1, kh - 2 * padding), 6))
    w = draw(st.integers(max(1, kw - 2 * padding), 6))
    return dict(c_in=draw(st.integers(1, 3)), c_out=draw(st.integers(1, 3)), kernel=(kh, kw),
                stride=stride, padding=padding, n=draw(st.integers(1, 4)), h=h, w=w)


@examples(30)
@given(data=st.data(), case=conv_cases(), fa=st.booleans(), dtype=dtypes, seed=seeds)
def test_conv_layers_forward_backward(data, case, fa, dtype, seed):
    cls = minifa.FAConv2d if fa else minifa.Conv2d
    c = case
    layer = cls(c["c_in"], c["c_out"], c["kernel"], c["stride"], c["padding"], rng=seed,
                dtype=dtype)
    x = data.draw(arrays(dtype, (c["n"], c["c_in"], c["h"], c["w"])), label="x")
    z = layer.forward(x)
    oh = (c["h"] + 2 * c["padding"] - c["kernel"][0]) // c["stride"] + 1
    ow = (c["w"] + 2 * c["padding"] - c["kernel"][1]) // c["stride"] + 1
    assert z.shape == (c["n"], c["c_out"], oh, ow) and z.dtype == numpy.dtype(dtype)
    assert_finite(z, f"{layer!r} forward")
    check_backward(layer, x, data.draw(arrays(dtype, z.shape), label="delta"))


@st.composite
def shape_layer_cases(draw):
    kind = draw(st.sampled_from(["MaxPool2d", "Flatten", "Reshape"]))
    n = draw(st.integers(1, 4))
    if kind == "MaxPool2d":
        k = draw(st.integers(1, 3))
        shape = (n, draw(st.integers(1, 3)), k * draw(st.integers(1, 3)),
                 k * draw(st.integers(1, 3)))
        return minifa.MaxPool2d(k), shape, (n, shape[1], shape[2] // k, shape[3] // k)
    if kind == "Flatten":
        shape = (n, *draw(st.lists(st.integers(1, 4), min_size=1, max_size=3)))
        return minifa.Flatten(), shape, (n, math.prod(shape[1:]))
    target = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=3)))
    return minifa.Reshape(target), (n, math.prod(target)), (n, *target)


@examples(30)
@given(data=st.data(), case=shape_layer_cases(), dtype=dtypes)
def test_shape_layers_forward_backward(data, case, dtype):
    layer, in_shape, out_shape = case
    x = data.draw(arrays(dtype, in_shape), label="x")
    z = layer.forward(x)
    assert z.shape == out_shape and z.dtype == x.dtype
    assert_finite(z, f"{layer!r} forward")
    check_backward(layer, x, data.draw(arrays(dtype, out_shape), label="delta"))


@examples(30)
@given(data=st.data(), k=st.integers(1, 3), n=st.integers(1, 3), c=st.integers(1, 2),
       a=st.integers(1, 3), b=st.integers(1, 3), dtype=dtypes)
def test_maxpool_values_and_first_max_routing(data, k, n, c, a, b, dtype):
    # Few distinct values, so ties within a window are common.
    x = data.draw(arrays(dtype, (n, c, k * a, k * b), st.sampled_from([-1.0, 0.0, 2.0])))
    pool = minifa.MaxPool2d(k)
    z = pool.forward(x)
    windows = x.reshape(n, c, a, k, b, k)
    numpy.testing.assert_array_equal(z, windows.max(axis=(3, 5)))
    delta = data.draw(arrays(dtype, z.shape, st.floats(0.5, 10, width=32)), label="delta")
    dx = pool.backward(delta).reshape(n, c, a, k, b, k)
    # each window routes its whole delta to exactly one entry, a maximum of the window
    assert ((dx != 0).sum(axis=(3, 5)) == 1).all()
    numpy.testing.assert_array_equal(dx.sum(axis=(3, 5)), delta)
    assert (windows[dx != 0] == numpy.broadcast_to(z[:, :, :, None, :, None], dx.shape)[dx != 0]
            ).all()


ACTIVATION_RANGES = {
    "ReLU": (0.0, math.inf), "Tanh": (-1.0, 1.0), "SignSTE": (-1.0, 1.0),
    "StochasticSignSTE": (-1.0, 1.0), "HardTanh": (-1.0, 1.0), "HardSigmoid": (0.0, 1.0),
}


def make_activation(kind, seed=0):
    if kind == "StochasticSignSTE":
        return minifa.StochasticSignSTE(noise_rng=seed)
    return getattr(minifa, kind)()


@examples(30)
@given(data=st.data(), kind=st.sampled_from(sorted(ACTIVATION_RANGES)), n=st.integers(1, 8),
       d=st.integers(1, 8), dtype=dtypes, seed=seeds)
def test_activations_forward_backward(data, kind, n, d, dtype, seed):
    layer = make_activation(kind, seed)
    x = data.draw(arrays(dtype, (n, d)), label="x")
    h = layer.forward(x)
    assert h.shape == x.shape and h.dtype == x.dtype
    lo, hi = ACTIVATION_RANGES[kind]
    assert ((h >= lo) & (h <= hi)).all()
    if kind in ("SignSTE", "StochasticSignSTE"):
        assert numpy.isin(h, [-1.0, 1.0]).all()
    check_backward(layer, x, data.draw(arrays(dtype, (n, d)), label="delta"))


# ---------------------------------------------------------------------------
# 2. Invalid input: a one-line InputError, never a raw NumPy error
# ---------------------------------------------------------------------------

@st.composite
def bad_dense_inputs(draw, n_in, dtype):
    """(shape, dtype) of an input a dense layer with ``n_in`` inputs must refuse."""
    n = draw(st.integers(1, 8))
    how = draw(st.sampled_from(["ndim", "width", "dtype"]))
    if how == "ndim":
        shape = draw(st.sampled_from([(), (n,), (n, n_in, 1), (1, n, n_in)]))
        return shape, dtype
    if how == "width":
        width = draw(st.integers(0, 12).filter(lambda w: w != n_in))
        return (n, width), dtype
    return (n, n_in), draw(st.sampled_from(BAD_DTYPES + (other_float(dtype),)))


@examples(50)
@given(data=st.data(), kind=st.sampled_from(DENSE_KINDS), n_in=st.integers(1, 8),
       n_out=st.integers(1, 8), dtype=dtypes)
def test_dense_layers_reject_bad_input(data, kind, n_in, n_out, dtype):
    layer = make_dense(kind, n_in, n_out, dtype, seed=0)
    shape, bad_dtype = data.draw(bad_dense_inputs(n_in, dtype), label="bad input")
    x = numpy.ones(shape, dtype=bad_dtype)
    raises_one_line(minifa.InputError, layer.forward, x)


@examples(30)
@given(data=st.data(), case=conv_cases(), fa=st.booleans(), dtype=dtypes,
       how=st.sampled_from(["ndim", "channels", "too small", "dtype"]))
def test_conv_layers_reject_bad_input(data, case, fa, dtype, how):
    c = case
    cls = minifa.FAConv2d if fa else minifa.Conv2d
    layer = cls(c["c_in"], c["c_out"], c["kernel"], c["stride"], c["padding"], dtype=dtype)
    shape, x_dtype = (c["n"], c["c_in"], c["h"], c["w"]), dtype
    if how == "ndim":
        shape = data.draw(st.sampled_from([shape[1:], shape[2:], (*shape, 1), (c["n"],)]))
    elif how == "channels":
        shape = (c["n"], data.draw(st.integers(1, 6).filter(lambda k: k != c["c_in"])),
                 c["h"], c["w"])
    elif how == "too small":
        kh, kw = c["kernel"]
        short = data.draw(st.sampled_from(["h", "w"]))
        lim_h = kh - 2 * c["padding"] - 1 if short == "h" else c["h"]
        lim_w = kw - 2 * c["padding"] - 1 if short == "w" else c["w"]
        assume(lim_h >= 0 and lim_w >= 0)
        shape = (c["n"], c["c_in"], data.draw(st.integers(0, lim_h)),
                 data.draw(st.integers(0, lim_w)))
    else:
        x_dtype = data.draw(st.sampled_from(BAD_DTYPES + (other_float(dtype),)))
    raises_one_line(minifa.InputError, layer.forward, numpy.ones(shape, dtype=x_dtype))


@examples(25)
@given(data=st.data(), kind=st.sampled_from(["Reshape", "MaxPool2d"]), dtype=dtypes)
def test_reshape_and_maxpool_reject_bad_input(data, kind, dtype):
    n = data.draw(st.integers(1, 4))
    if kind == "Reshape":
        target = tuple(data.draw(st.lists(st.integers(1, 4), min_size=1, max_size=3)))
        layer, width = minifa.Reshape(target), math.prod(target)
        shape = data.draw(st.sampled_from([
            (n,), (n, width, 1), (n, width + data.draw(st.integers(1, 5))),
            (n, width - data.draw(st.integers(1, width))),
        ]))
    else:
        k = data.draw(st.integers(2, 3))
        layer = minifa.MaxPool2d(k)
        good = k * data.draw(st.integers(1, 3))
        odd = k * data.draw(st.integers(0, 3)) + data.draw(st.integers(1, k - 1))
        shape = data.draw(st.sampled_from([
            (n, 1, good), (n, 1, good, good, 1), (n, 1, odd, good), (n, 1, good, odd),
        ]))
    raises_one_line(minifa.InputError, layer.forward, numpy.ones(shape, dtype=dtype))


# Activations check nothing on purpose (they sit behind a checked dense layer):
# any array goes through elementwise. ReLU, Tanh, HardTanh and HardSigmoid cope
# with every real dtype; SignSTE and StochasticSignSTE do not (pinned below).
@examples(25)
@given(kind=st.sampled_from(["ReLU", "Tanh", "HardTanh", "HardSigmoid", "SignSTE"]),
       dtype=st.sampled_from(["int8", "int32", "int64", "uint8", "float16"]),
       shape=hnp.array_shapes(min_dims=1, max_dims=3, max_side=4))
def test_activations_accept_other_dtypes(kind, dtype, shape):
    assume(kind != "SignSTE")  # binary activations take float32/64 only: pinned below
    layer = make_activation(kind)
    x = numpy.arange(math.prod(shape)).reshape(shape).astype(dtype) - numpy.array(1, dtype)
    h = layer.forward(x)
    assert h.shape == x.shape
    d = layer.backward(numpy.ones(shape, dtype=h.dtype))
    assert d.shape == x.shape


@pytest.mark.parametrize("dtype", ["int64", "uint8"])
def test_sign_ste_integer_input(dtype):
    raises_one_line(minifa.InputError, minifa.SignSTE().forward,
                    numpy.array([[0, 1, 2]], dtype=dtype))


@pytest.mark.parametrize("dtype", ["int64", "float16"])
def test_stochastic_sign_ste_other_dtypes(dtype):
    raises_one_line(minifa.InputError, minifa.StochasticSignSTE(noise_rng=0).forward,
                    numpy.zeros((2, 3), dtype=dtype))


def test_flatten_zero_dim_input():
    raises_one_line(minifa.InputError, minifa.Flatten().forward, numpy.float32(1.0))


@pytest.mark.parametrize("layer", [minifa.Flatten(), minifa.MaxPool2d(1), minifa.Reshape((2,))],
                         ids=repr)
def test_shape_layers_given_a_list(layer):
    raises_one_line(minifa.MinifaError, layer.forward, [[1.0, 2.0]])


@pytest.mark.parametrize("shape", [(-1, -1), (-2, -2)])
def test_reshape_negative_sizes(shape):
    # Rejected at construction, or else at forward with InputError:
    with pytest.raises(minifa.InputError):
        minifa.Reshape(shape).forward(numpy.zeros((1, math.prod(shape)), "float32"))


# ---------------------------------------------------------------------------
# 3. SoftmaxCrossEntropy
# ---------------------------------------------------------------------------

def reference_loss(z, y):
    """mean(logsumexp(z) - z_y) in float64, never adding a tiny log to a huge shift."""
    shifted = z.astype(numpy.float64) - z.max(axis=1, keepdims=True)
    return float(numpy.mean(numpy.log(numpy.exp(shifted).sum(axis=1))
                            - shifted[numpy.arange(len(y)), y]))


HUGE = float(numpy.float32(1e30))  # 1e30 rounded to float32, so both dtypes hold it exactly


@st.composite
def logits_and_labels(draw):
    n, k, dtype = draw(st.integers(1, 8)), draw(st.integers(1, 8)), draw(dtypes)
    big = draw(st.sampled_from([10.0, 1e4, HUGE]))
    # up to ±1e30 in both dtypes (float32 holds 3.4e38), with the extremes drawn often
    values = st.one_of(st.floats(-big, big, width=32), st.sampled_from([-big, big, 0.0]))
    z = draw(arrays(dtype, (n, k), values))
    y = draw(hnp.arrays(numpy.int64, (n,), elements=st.integers(0, k - 1)))
    return z, y


@examples(50)
@given(case=logits_and_labels())
def test_loss_finite_nonnegative_rows_sum_to_zero(case):
    z, y = case
    loss = minifa.SoftmaxCrossEntropy()
    value = loss.forward(z, y)
    assert value.shape == () and numpy.isfinite(value) and value >= 0
    numpy.testing.assert_allclose(float(value), reference_loss(z, y),
                                  rtol=1e-5 if z.dtype == numpy.float32 else 1e-12, atol=1e-6)
    e = loss.backward()
    assert e.shape == z.shape and e.dtype == z.dtype
    assert_finite(e, "loss gradient")
    n, k = z.shape
    tol = 4 * k * numpy.finfo(z.dtype).eps / n
    numpy.testing.assert_allclose(e.sum(axis=1), 0.0, atol=tol)
    # e = (softmax - onehot) / n: each entry within [-1/n, 1/n]
    assert (numpy.abs(e) <= (1 + tol) / n).all()


@examples(30)
@given(data=st.data(), n=st.integers(1, 4), k=st.integers(1, 6), dtype=dtypes)
def test_loss_full_finite_range_never_nan(data, n, k, dtype):
    # Any finite logits, up to the dtype's max. When a row's spread max - z_y exceeds
    # that max the true loss is not representable and +inf is its correct rounding;
    # it must never be NaN or negative, and the gradient must stay finite.
    top = float(numpy.finfo(dtype).max)
    values = st.one_of(st.floats(-top, top, width=numpy.finfo(dtype).bits),
                       st.sampled_from([-top, top, 0.0]))
    z = data.draw(arrays(dtype, (n, k), values), label="z")
    y = data.draw(hnp.arrays(numpy.int64, (n,), elements=st.integers(0, k - 1)), label="y")
    loss = minifa.SoftmaxCrossEntropy()
    with numpy.errstate(over="ignore"):  # z - max(z) may overflow to -inf, on purpose
        value = float(loss.forward(z, y))
        spread = z.max(axis=1).astype(numpy.float64) - z[numpy.arange(n), y]  # row loss - log s
    assert value >= 0 and not math.isnan(value)
    if not math.isfinite(value):
        # right when one row's loss is beyond the dtype; when only the rows' *sum* is, it is
        # the sum-then-divide overflow pinned by test_loss_mean_of_huge_rows_is_finite
        with numpy.errstate(over="ignore"):
            assert (spread > top).any() or spread.sum() > top
    e = loss.backward()
    assert_finite(e, "loss gradient")
    numpy.testing.assert_allclose(e.sum(axis=1), 0.0, atol=4 * k * numpy.finfo(dtype).eps / n)


@pytest.mark.parametrize("dtype, big", [("float32", 3e38), ("float64", 1.7e308)])
def test_loss_mean_of_huge_rows_is_finite(dtype, big):
    z = numpy.array([[-big, 0.0], [-big, 0.0]], dtype=dtype)
    with numpy.errstate(over="ignore"):
        value = float(minifa.SoftmaxCrossEntropy().forward(z, numpy.array([0, 0])))
    numpy.testing.assert_allclose(value, float(numpy.dtype(dtype).type(big)), rtol=1e-6)


@examples(30)
@given(n=st.integers(1, 8), k=st.integers(1, 16), dtype=dtypes, data=st.data(),
       value=st.one_of(st.floats(-HUGE, HUGE, width=32), st.sampled_from([-HUGE, HUGE])))
def test_loss_equal_logits_is_log_k(n, k, dtype, data, value):
    z = numpy.full((n, k), value, dtype=dtype)
    y = data.draw(hnp.arrays(numpy.int64, (n,), elements=st.integers(0, k - 1)))
    loss = minifa.SoftmaxCrossEntropy()
    got = float(loss.forward(z, y))
    numpy.testing.assert_allclose(got, math.log(k), rtol=1e-6, atol=1e-6)
    e = loss.backward()
    expected = numpy.full((n, k), 1.0 / k)
    expected[numpy.arange(n), y] -= 1.0
    numpy.testing.assert_allclose(e, expected / n, atol=1e-6)


# The loss does no checks (it runs inside the batch loop, behind check_data), so
# malformed input either crashes inside NumPy or, worse, gives a number.
LOSS_BAD = {
    "label == k": (numpy.zeros((3, 4), "float32"), numpy.array([0, 1, 4])),
    "float labels": (numpy.zeros((3, 4), "float32"), numpy.array([0.0, 1.0, 2.0])),
    "1-D logits": (numpy.zeros(4, "float32"), numpy.array([0])),
    "3 logit rows, 2 labels": (numpy.zeros((3, 4), "float32"), numpy.array([0, 1])),
    "2-D labels (silently broadcast)": (
        numpy.zeros((3, 4), "float32"), numpy.array([[0], [1], [2]])),
    "zero classes": (numpy.zeros((3, 0), "float32"), numpy.array([0, 0, 0])),
}


@pytest.mark.parametrize("z, y", list(LOSS_BAD.values()), ids=list(LOSS_BAD))
def test_loss_rejects_malformed_input(z, y):
    raises_one_line(minifa.InputError, minifa.SoftmaxCrossEntropy().forward, z, y)


@pytest.mark.parametrize("bad", [3, 7, -1])
def test_evaluate_rejects_labels_out_of_range(bad):
    model = minifa.mlp([4, 3], seed=0)
    x = numpy.ones((5, 4), "float32")
    y = numpy.array([0, 1, 2, bad, 0])
    raises_one_line(minifa.InputError, minifa.evaluate, model, x, y)


# ---------------------------------------------------------------------------
# 4. DataLoader
# ---------------------------------------------------------------------------

@st.composite
def bad_loader_args(draw):
    n, d = draw(st.integers(1, 20)), draw(st.integers(1, 4))
    x = numpy.zeros((n, d), draw(dtypes))
    y = numpy.zeros(n, numpy.int64)
    kw = dict(batch_size=draw(st.integers(1, n)), drop_last=draw(st.booleans()))
    how = draw(st.sampled_from(["lengths", "empty", "batch too big", "batch < 1",
                                "float labels", "non-finite", "x ndim", "y ndim"]))
    if how == "lengths":
        y = numpy.zeros(draw(st.integers(0, 25).filter(lambda m: m != n)), numpy.int64)
    elif how == "empty":
        x, y = x[:0], y[:0]
    elif how == "batch too big":
        kw.update(batch_size=draw(st.integers(n + 1, 10 * n + 10)), drop_last=True)
    elif how == "batch < 1":
        kw.update(batch_size=draw(st.integers(-1000, 0)))
    elif how == "float labels":
        y = y.astype(draw(st.sampled_from(["float32", "float64", "float16", "bool"])))
    elif how == "non-finite":
        bad = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, d - 1)),
                            min_size=1, max_size=5))
        for i, j in bad:
            x[i, j] = draw(st.sampled_from([numpy.nan, numpy.inf, -numpy.inf]))
    elif how == "x ndim":
        x = x.reshape(draw(st.sampled_from([(n * d,), (n, d, 1), (1, n, d)])))
    else:
        y = y.reshape(n, 1)
    return how, x, y, kw


@examples(50)
@given(case=bad_loader_args())
def test_loader_rejects_bad_data(case):
    how, x, y, kw = case
    message = raises_one_line(minifa.InputError, minifa.DataLoader, x, y, **kw)
    if how == "non-finite":
        n_bad = int((~numpy.isfinite(x)).sum())
        assert f"{n_bad} NaN or infinite" in message


@examples(50)
@given(n=st.integers(1, 40), d=st.integers(1, 3), data=st.data(), shuffle=st.booleans(),
       drop_last=st.booleans(), seed=seeds, dtype=dtypes)
def test_loader_epoch_coverage(n, d, data, shuffle, drop_last, seed, dtype):
    batch_size = data.draw(st.integers(1, n if drop_last else n + 5), label="batch_size")
    ids = numpy.arange(n)
    x = numpy.repeat(ids[:, None], d, axis=1).astype(dtype)  # every row holds its own index
    loader = minifa.DataLoader(x, ids, batch_size=batch_size, shuffle=shuffle,
                               drop_last=drop_last, seed=seed)
    expected_len = n // batch_size if drop_last else -(-n // batch_size)
    assert len(loader) == expected_len
    for _epoch in range(2):
        batches = list(loader)
        assert len(batches) == len(loader)
        seen = []
        for i, (xb, yb) in enumerate(batches):
            assert xb.dtype == x.dtype and xb.shape == (len(yb), d) and yb.ndim == 1
            full = i < len(batches) - 1 or drop_last
            assert (len(yb) == batch_size) if full else (1 <= len(yb) <= batch_size)
            numpy.testing.assert_array_equal(xb, x[yb])  # rows and labels stay paired
            seen.extend(yb.tolist())
        assert len(seen) == len(set(seen)), "a sample came twice in one epoch"
        if drop_last:
            assert len(seen) == len(loader) * batch_size
        else:
            assert sorted(seen) == list(range(n)), "a sample was missed"
        if not shuffle:
            assert seen == list(range(len(seen)))


@examples(25)
@given(n=st.integers(1, 20), data=st.data(), dtype=dtypes,
       scale=st.sampled_from([1, 255, 255.0, 7.5]))
def test_loader_scales_unsigned_pixels(n, data, dtype, scale):
    x = data.draw(hnp.arrays(numpy.uint8, (n, 3)), label="pixels")
    y = numpy.arange(n)
    batch_size = data.draw(st.integers(1, n))
    loader = minifa.DataLoader(x, y, batch_size=batch_size, drop_last=False, scale=scale,
                               dtype=dtype)
    for xb, yb in loader:
        assert xb.dtype == numpy.dtype(dtype)
        numpy.testing.assert_array_equal(
            xb, numpy.divide(x[yb], numpy.dtype(dtype).type(scale), dtype=dtype))
        assert ((xb >= 0) & (xb <= 255 / scale)).all()


@pytest.mark.parametrize("scale", [0, -255, float("nan"), float("inf")])
def test_loader_rejects_bad_scale(scale):
    x, y = numpy.full((4, 3), 7, numpy.uint8), numpy.arange(4)
    raises_one_line(minifa.InputError, minifa.DataLoader, x, y, batch_size=2, scale=scale)


# ---------------------------------------------------------------------------
# 5. train
# ---------------------------------------------------------------------------

def small_training(n=6, k=3, y=None):
    model = minifa.mlp([3, k], seed=0)
    x = numpy.linspace(-1, 1, n * 3, dtype="float32").reshape(n, 3)
    y = numpy.arange(n) % k if y is None else y
    loader = minifa.DataLoader(x, y, batch_size=2, shuffle=False)
    return model, minifa.SGD(model.parameters(), lr=0.01), loader, x


@examples(25)
@given(epochs=st.one_of(st.integers(-10**6, 0), st.sampled_from([0, 0.5, -1.5])))
def test_train_rejects_non_positive_epochs(epochs):
    model, opt, loader, _ = small_training()
    before = model.layers[0].W.copy()
    # ValueError today; InputError (a ValueError subclass) would pass as well.
    message = raises_one_line(ValueError, minifa.train, model, opt, loader, epochs=epochs)
    assert "epochs" in message
    numpy.testing.assert_array_equal(model.layers[0].W, before)  # nothing was trained


def test_train_bad_epochs_is_a_minifa_error():
    model, opt, loader, _ = small_training()
    raises_one_line(minifa.MinifaError, minifa.train, model, opt, loader, epochs=0)


@examples(30)
@given(data=st.data(), k=st.integers(2, 5), n=st.integers(2, 12), where=st.sampled_from(
    ["train", "test"]))
def test_train_rejects_labels_out_of_range(data, k, n, where):
    labels = st.integers(-5, k + 5)
    y = data.draw(hnp.arrays(numpy.int64, (n,), elements=labels), label="labels")
    assume(((y < 0) | (y >= k)).any())
    if where == "train":
        model, opt, loader, _ = small_training(n, k, y)
        test = None
    else:
        model, opt, loader, x = small_training(n, k)
        test = (x, y)
    message = raises_one_line(minifa.InputError, minifa.train, model, opt, loader, epochs=1,
                              test=test)
    assert f"labels must be 0..{k - 1}" in message


# ---------------------------------------------------------------------------
# 6. read_idx on arbitrary bytes
# ---------------------------------------------------------------------------

def claimed_size(blob):
    """Elements an IDX header claims, as read_idx parses it; None if it never gets there."""
    if len(blob) < 4 or blob[:2] != b"\0\0" or blob[2] != 0x08 or not 1 <= blob[3] <= 4:
        return None
    ndim = blob[3]
    if len(blob) < 4 + 4 * ndim:
        return None
    return math.prod(struct.unpack(f">{ndim}I", blob[4:4 + 4 * ndim]))


def gunzip_prefix(blob, want=20):
    """The first bytes a (possibly corrupt) gzip stream decompresses to, fed byte by byte
    so a bad CRC at its end does not hide them."""
    inflate, out = zlib.decompressobj(wbits=31), b""
    for i in range(len(blob)):
        try:
            out += inflate.decompress(blob[i:i + 1])
        except zlib.error:
            break
        if len(out) >= want:
            break
    return out


def file_claim(path):
    """What the header of the file at ``path`` claims, as read_idx would see it."""
    data = path.read_bytes()
    return claimed_size(gunzip_prefix(data) if data[:2] == b"\x1f\x8b" else data)


@pytest.fixture(scope="module")
def idx_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("idx")


def write_idx(folder, blob, gz):
    path = folder / ("blob.gz" if gz else "blob")
    path.write_bytes(gzip.compress(blob, mtime=0) if gz else blob)
    return path


def read_or_data_error(path):
    """read_idx's result, or None after a one-line DataError; anything else fails."""
    try:
        out = read_idx(path)
    except minifa.DataError as e:
        assert str(e).strip() and "\n" not in str(e), repr(str(e))
        return None
    assert isinstance(out, numpy.ndarray) and out.dtype == numpy.uint8
    return out


# Headers claiming more than this many elements are left to the pinned tests below
# (read_idx allocates what the header claims before reading anything).
SANE_CLAIM = 1 << 16


@examples(50)
@given(body=st.one_of(
    st.binary(max_size=64),
    st.binary(max_size=64).map(lambda b: b"\0\0\x08" + b),  # get past the magic check
    st.binary(max_size=64).map(lambda b: b"\x1f\x8b" + b),  # looks like gzip, is not
), gz=st.booleans())
def test_read_idx_arbitrary_bytes(idx_dir, body, gz):
    path = write_idx(idx_dir, body, gz)
    claim = file_claim(path)
    assume(claim is None or claim <= SANE_CLAIM)
    out = read_or_data_error(path)
    if out is not None:  # only a well-formed file is accepted, and read exactly
        ndim = body[3]
        dims = struct.unpack(f">{ndim}I", body[4:4 + 4 * ndim])
        assert out.shape == dims and len(body) == 4 + 4 * ndim + claim
        assert out.tobytes() == body[4 + 4 * ndim:]


@st.composite
def mutated_idx(draw):
    dims = draw(st.lists(st.integers(0, 5), min_size=1, max_size=4))
    payload = draw(st.binary(min_size=math.prod(dims), max_size=math.prod(dims)))
    good = bytes([0, 0, 8, len(dims)]) + struct.pack(f">{len(dims)}I", *dims) + payload
    how = draw(st.sampled_from(["none", "truncate", "trailing", "magic", "type", "ndim",
                                "cut gzip", "flip gzip byte"]))
    blob, gz = good, draw(st.booleans())
    if how == "truncate":
        blob = good[:draw(st.integers(0, len(good) - 1))]
    elif how == "trailing":
        blob = good + draw(st.binary(min_size=1, max_size=8))
    elif how == "magic":
        blob = bytes([draw(st.integers(1, 255))]) + good[1:]
    elif how == "type":
        blob = good[:2] + bytes([draw(st.integers(0, 255).filter(lambda t: t != 8))]) + good[3:]
    elif how == "ndim":
        blob = good[:3] + bytes([draw(st.sampled_from([0, 5, 6, 255]))]) + good[4:]
    elif how in ("cut gzip", "flip gzip byte"):
        blob, gz = gzip.compress(good, mtime=0), False  # written raw: corrupt the stream itself
        if how == "cut gzip":
            blob = blob[:draw(st.integers(2, len(blob) - 1))]
        else:
            i = draw(st.integers(10, len(blob) - 1))  # past the fixed header fields
            blob = blob[:i] + bytes([blob[i] ^ draw(st.integers(1, 255))]) + blob[i + 1:]
    return how, blob, gz, dims, payload


@examples(50)
@given(case=mutated_idx())
def test_read_idx_mutated_valid_files(idx_dir, case):
    how, blob, gz, dims, payload = case
    path = write_idx(idx_dir, blob, gz)
    claim = file_claim(path)  # a flipped gzip byte can inflate the dims (pinned below)
    assume(claim is None or claim <= SANE_CLAIM)
    out = read_or_data_error(path)
    if how == "none":
        assert out is not None and out.shape == tuple(dims) and out.tobytes() == payload
    elif how in ("truncate", "trailing", "magic", "type", "ndim", "cut gzip"):
        assert out is None, f"{how}: accepted {blob!r}"
    elif out is not None:  # a flipped byte may survive only if the CRC still holds
        assert out.shape == tuple(dims) and out.tobytes() == payload


ABSURD = {
    "2^31 x 2^31": (2**31, 2**31),
    "(2^32-1)^4": (2**32 - 1,) * 4,
    "2^20 x 2^20 x 2^20": (2**20,) * 3,
}


def header(dims):
    return bytes([0, 0, 8, len(dims)]) + struct.pack(f">{len(dims)}I", *dims)


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gzip"])
@pytest.mark.parametrize("dims", list(ABSURD.values()), ids=list(ABSURD))
def test_read_idx_absurd_header_dims(tmp_path, dims, gz):
    path = write_idx(tmp_path, header(dims), gz)
    raises_one_line(minifa.DataError, read_idx, path)


def test_read_idx_corrupt_gzip_byte(tmp_path):
    path = tmp_path / "flipped.gz"
    path.write_bytes(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\x03c`\xe0`b\x81\x02\x00"
                     b"\x1d\xae\xf4F\x0c\x00\x00\x00")
    assert file_claim(path) == 0x04040404**2
    raises_one_line(minifa.DataError, read_idx, path)


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gzip"])
def test_read_idx_does_not_allocate_what_a_short_file_claims(tmp_path, gz):
    path = write_idx(tmp_path, header((2**30,)), gz)
    tracemalloc.start()
    try:
        with pytest.raises(minifa.DataError, match="truncated"):
            read_idx(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20, f"read_idx allocated {peak / 2**20:.0f} MiB for a 12-byte file"


# ---------------------------------------------------------------------------
# 7. mlp builder
# ---------------------------------------------------------------------------

@st.composite
def bad_mlp_args(draw):
    kw = dict(sizes=draw(st.lists(st.integers(1, 6), min_size=2, max_size=5)))
    how = draw(st.sampled_from(["width", "too few", "rule", "activation"]))
    if how == "width":
        sizes = list(kw["sizes"])
        for i in draw(st.sets(st.integers(0, len(sizes) - 1), min_size=1)):
            sizes[i] = draw(st.integers(-10**6, 0))
        kw["sizes"] = sizes
    elif how == "too few":
        kw["sizes"] = draw(st.lists(st.integers(-3, 6), max_size=1))
    elif how == "rule":
        kw["rule"] = draw(st.one_of(st.text(max_size=8), st.sampled_from(
            ["FA", " fa", "bp\n", "", "backprop"])).filter(lambda r: r not in minifa.RULES))
    else:
        kw["activation"] = draw(st.one_of(st.text(max_size=8), st.sampled_from(
            ["ReLU", "sigmoid", "relu\n", "", None])).filter(lambda a: a not in ACTIVATIONS))
    return how, kw


@examples(50)
@given(case=bad_mlp_args())
def test_mlp_rejects_bad_arguments(case):
    how, kw = case
    message = raises_one_line(minifa.InputError, minifa.mlp, **kw)
    word = {"width": "sizes", "too few": "sizes", "rule": "rule", "activation": "activation"}
    assert word[how] in message


@examples(25)
@given(data=st.data(), rule=st.sampled_from(sorted(minifa.RULES)),
       activation=st.sampled_from(sorted(ACTIVATIONS)), dtype=dtypes,
       sizes=st.lists(st.integers(1, 6), min_size=2, max_size=4), n=st.integers(1, 6),
       seed=st.integers(0, 2**16))
def test_mlp_every_rule_takes_a_step(data, rule, activation, dtype, sizes, n, seed):
    model = minifa.mlp(sizes, rule=rule, activation=activation, seed=seed, dtype=dtype)
    assert model.rule == rule and (model.n_in, model.n_out) == (sizes[0], sizes[-1])
    x = data.draw(arrays(dtype, (n, sizes[0])), label="x")
    y = data.draw(hnp.arrays(numpy.int64, (n,), elements=st.integers(0, sizes[-1] - 1)))
    loss = minifa.SoftmaxCrossEntropy()
    value, correct = minifa.train_step(model, loss, minifa.SGD(model.parameters(), lr=0.01), x, y)
    assert numpy.isfinite(value) and 0 <= int(correct) <= n
    for p in model.parameters():
        assert p.grad.shape == p.value.shape and p.value.dtype == numpy.dtype(dtype)
        assert_finite(p.value, repr(p))


@pytest.mark.parametrize("build", [
    lambda: minifa.mlp([4, 2], dtype="foo"),
    lambda: minifa.Linear(4, 2, dtype="foo"),
    lambda: minifa.DataLoader(numpy.zeros((4, 2), "float32"), numpy.zeros(4, int),
                              batch_size=2, dtype="half-precision"),
], ids=["mlp", "Linear", "DataLoader"])
def test_unknown_dtype_name(build):
    raises_one_line(minifa.InputError, build)


def test_mlp_negative_seed():
    raises_one_line(minifa.InputError, minifa.mlp, [4, 2], seed=-1)


def test_conv_numpy_integer_kernel_size():
    layer = minifa.Conv2d(1, 2, numpy.int64(3))
    assert (layer.kh, layer.kw) == (3, 3)


def test_conv_kernel_size_three_tuple():
    raises_one_line(minifa.InputError, minifa.Conv2d, 1, 2, (1, 2, 3))
