"""Backends: selection, clear errors, and no hidden host/device mixing."""

import sys
import types

import numpy
import pytest

import minifa
from minifa import backend as B

from strict_backend import SYNCS, StrictArray


def test_numpy_is_the_default_and_env_selects(monkeypatch):
    monkeypatch.delenv("MINIFA_BACKEND", raising=False)
    assert B.get_backend().name == "numpy"
    monkeypatch.setenv("MINIFA_BACKEND", "NumPy")
    assert B.get_backend().name == "numpy"


def test_unknown_backend_is_one_clear_error():
    with pytest.raises(minifa.BackendError, match="unknown backend 'torch': choose one of"):
        B.get_backend("torch")


@pytest.fixture
def fresh_cupy(monkeypatch):
    monkeypatch.setattr(B, "_cache", {})
    monkeypatch.setattr(B, "_by_type", {})


def test_cupy_missing_says_what_to_install(monkeypatch, fresh_cupy):
    monkeypatch.setitem(sys.modules, "cupy", None)  # makes `import cupy` fail
    with pytest.raises(minifa.BackendError, match="not installed.*pip install") as info:
        B.get_backend("cupy")
    assert "\n" not in str(info.value)


def test_cupy_without_gpu_says_so(monkeypatch, fresh_cupy):
    def no_device():
        raise RuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected")

    fake = types.ModuleType("cupy")
    fake.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=no_device))
    monkeypatch.setitem(sys.modules, "cupy", fake)
    with pytest.raises(minifa.BackendError, match="no usable CUDA device.*--backend numpy"):
        B.get_backend("cupy")


def test_strict_arrays_refuse_numpy(strict):
    a = strict.asarray(numpy.ones(3, dtype="float32"))
    with pytest.raises(TypeError):
        numpy.asarray(a)
    with pytest.raises(TypeError):
        a + numpy.ones(3)
    with pytest.raises(TypeError):
        numpy.ones(3) + a
    with pytest.raises(TypeError):
        a * numpy.float64(2.0)  # a NumPy scalar would upcast float32 math
    with pytest.raises(minifa.BackendError, match="different backends"):
        B.get_array_module(a, numpy.ones(3))


def strict_setup(strict, seed=0):
    rng = numpy.random.default_rng(seed)
    x = rng.random((256, 12), dtype=numpy.float32)
    y = rng.integers(0, 3, 256)
    model = minifa.mlp([12, 8, 3], rule="fa", seed=seed, backend=strict)
    loader = minifa.DataLoader(x, y, batch_size=32, seed=seed, backend=strict)
    return model, loader, (strict.asarray(x[:64]), strict.asarray(y[:64]))


def test_training_step_on_strict_backend_makes_no_host_round_trip(strict):
    model, loader, _ = strict_setup(strict)
    opt = minifa.Adam(model.parameters())
    loss = minifa.SoftmaxCrossEntropy()
    batches = list(loader)
    SYNCS["count"] = 0
    for x, y in batches:
        value, hits = minifa.train_step(model, loss, opt, x, y)
    assert SYNCS["count"] == 0
    assert isinstance(value, StrictArray) and isinstance(hits, StrictArray)
    for p in model.parameters():
        assert isinstance(p.value, StrictArray) and isinstance(p.grad, StrictArray)
    assert all(isinstance(a, StrictArray) for a in (opt.w, opt.g, opt.mu, opt.nu))
    assert isinstance(model.layers[0].B, StrictArray)


def test_strict_training_equals_numpy_training(strict):
    numpy_backend = B.get_backend("numpy")
    histories, weights = [], []
    for backend in (strict, numpy_backend):
        rng = numpy.random.default_rng(1)
        x = rng.random((200, 12), dtype=numpy.float32)
        y = rng.integers(0, 3, 200)
        model = minifa.mlp([12, 8, 3], rule="fa", seed=1, backend=backend)
        loader = minifa.DataLoader(x, y, batch_size=16, seed=2, backend=backend)
        test = (backend.asarray(x[:50]), backend.asarray(y[:50]))
        histories.append(minifa.train(model, minifa.Adam(model.parameters()), loader,
                                      epochs=2, test=test).drop(columns="seconds"))
        weights.append([backend.to_host(p.value) for p in model.parameters()])
    assert histories[0].equals(histories[1])
    for a, b in zip(*weights):
        numpy.testing.assert_array_equal(a, b)


def test_syncs_per_epoch_do_not_grow_with_batches(strict):
    counts = []
    for n in (128, 512):
        rng = numpy.random.default_rng(0)
        x, y = rng.random((n, 12), dtype=numpy.float32), rng.integers(0, 3, n)
        model = minifa.mlp([12, 8, 3], rule="fa", seed=0, backend=strict)
        loader = minifa.DataLoader(x, y, batch_size=16, backend=strict)
        opt = minifa.Adam(model.parameters())
        minifa.train(model, opt, loader, epochs=1)  # entry checks happen here
        SYNCS["count"] = 0
        minifa.train(model, opt, loader, epochs=3)
        counts.append(SYNCS["count"])
    assert counts[0] == counts[1]


def test_numpy_input_to_device_model_is_an_error(strict):
    model, _, _ = strict_setup(strict)
    with pytest.raises(minifa.BackendError, match="asarray"):
        model.forward(numpy.zeros((2, 12), dtype="float32"))


cupy_gpu = pytest.mark.skipif(
    not (lambda: __import__("importlib").util.find_spec("cupy") is not None)(),
    reason="CuPy is not installed",
)


@cupy_gpu
def test_numpy_cupy_parity():
    try:
        cp = B.get_backend("cupy")
    except minifa.BackendError as exc:
        pytest.skip(str(exc))
    rng = numpy.random.default_rng(3)
    x, y = rng.random((300, 20), dtype=numpy.float32), rng.integers(0, 4, 300)
    results = []
    for backend in (B.get_backend("numpy"), cp):
        model = minifa.mlp([20, 16, 4], rule="fa", seed=3, dtype="float64", backend=backend)
        loader = minifa.DataLoader(x.astype("float64"), y, batch_size=32, seed=4, backend=backend)
        minifa.train(model, minifa.Adam(model.parameters()), loader, epochs=2)
        results.append([backend.to_host(p.value) for p in model.parameters()])
    for a, b in zip(*results):
        numpy.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("rule", ["bp", "fa", "dfa", "kp", "usf", "frsf"])
def test_batch_loop_copies_nothing_between_host_and_device(strict, rule):
    """Data on the device, one permutation copied per epoch, no other transfer or sync."""
    counts = []
    for n in (128, 512):
        rng = numpy.random.default_rng(0)
        x, y = rng.integers(0, 256, (n, 12), dtype=numpy.uint8), rng.integers(0, 3, n)
        model = minifa.mlp([12, 8, 3], rule=rule, seed=0, backend=strict)
        loader = minifa.DataLoader(x, y, batch_size=16, backend=strict, scale=255)
        opt = minifa.Adam(model.parameters())
        loss = minifa.SoftmaxCrossEntropy()
        SYNCS.update(count=0, to_device=0, to_host=0)
        for _ in range(2):
            for xb, yb in loader:
                minifa.train_step(model, loss, opt, xb, yb)
        counts.append(dict(SYNCS))
    assert counts[0] == counts[1] == {"count": 0, "to_device": 2, "to_host": 0}


def test_numpy_and_strict_backends_run_the_plain_array_code(strict, numpy_passes):
    for backend in (B.get_backend("numpy"), strict):
        assert backend.elementwise("T x", "T y", "y = x;", "copy") is None
        z = backend.asarray(numpy.ones((2, 3), "float32"))
        assert minifa.fast.relu_backward(z, z) is None
        assert minifa.fast.softmax_ce_backward(z, backend.asarray(numpy.zeros(2, int))) is None


@cupy_gpu
def test_fused_gpu_kernels_equal_the_plain_array_code():
    """Adam, ReLU backward and softmax-CE backward: one kernel each on CuPy, checked
    against the plain array code they replace, on the same device."""
    try:
        cp = B.get_backend("cupy")
    except minifa.BackendError as exc:
        pytest.skip(str(exc))
    rng = numpy.random.default_rng(0)
    for dtype in ("float32", "float64"):
        model = minifa.mlp([30, 20, 5], rule="fa", seed=0, dtype=dtype, backend=cp)
        opt = minifa.Adam(model.parameters())
        twin = [cp.xp.array(a) for a in (opt.w, opt.mu, opt.nu)]
        for t in range(1, 4):
            opt.g[...] = cp.asarray(rng.standard_normal(opt.g.shape).astype(dtype))
            w, mu, nu = twin
            opt.t = t - 1
            opt.step()  # the fused kernel
            b1, b2 = opt.b1, opt.b2
            c1, c2 = 1.0 - b1**t, 1.0 - b2**t
            r = (c2 / (1.0 - b2)) ** 0.5
            minifa.fast.adam_passes(w, opt.g, mu, nu, cp.xp.empty_like(w), b1, b2,
                                    opt.lr * (1.0 - b1) * r / c1, opt.eps * r)
            for a, b in zip((opt.w, opt.mu, opt.nu), twin):
                numpy.testing.assert_allclose(cp.to_host(a), cp.to_host(b), rtol=1e-5)
        relu = minifa.ReLU()
        z = cp.asarray(rng.standard_normal((7, 9)).astype(dtype))
        delta = cp.asarray(rng.standard_normal((7, 9)).astype(dtype))
        relu.forward(z)
        numpy.testing.assert_array_equal(cp.to_host(relu.bp_feedback(delta)),
                                         cp.to_host(delta * (z > 0)))
        loss = minifa.SoftmaxCrossEntropy()
        y = cp.asarray(rng.integers(0, 9, 7))
        loss.forward(z, y)
        expected = cp.to_host(loss.p).copy()
        expected[numpy.arange(7), cp.to_host(y)] -= 1
        numpy.testing.assert_allclose(cp.to_host(loss.backward()), expected / 7, rtol=1e-6)


def test_example_loaders_put_train_and_test_data_on_the_device(strict):
    import argparse

    from minifa import cli
    from minifa.data import Dataset

    rng = numpy.random.default_rng(0)
    pixels = rng.integers(0, 256, (40, 784), dtype=numpy.uint8)
    ds = Dataset(pixels[:32], rng.integers(0, 10, 32), pixels[32:], rng.integers(0, 10, 8),
                 "synthetic", "synthetic")
    args = argparse.Namespace(batch_size=8, seed=0, dtype="float32")
    loader, (x_test, y_test) = cli.loaders(ds, args, strict)
    assert isinstance(x_test, StrictArray) and isinstance(y_test, StrictArray)
    assert x_test.dtype == numpy.float32
    numpy.testing.assert_array_equal(strict.to_host(x_test),
                                     numpy.divide(pixels[32:], numpy.float32(255),
                                                  dtype=numpy.float32))
