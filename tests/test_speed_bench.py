"""benchmarks/speed.py on a stand-in for MNIST: its profile walks minifa's step as
train_step does and accounts for it; its PyTorch LeNet computes minifa's LeNet under BP."""

import sys
import types
from pathlib import Path

import numpy
import pytest

from minifa.convnet import lenet

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def speed():
    sys.path.insert(0, str(BENCHMARKS))  # speed.py imports its neighbours by name
    try:
        import speed

        yield speed
    finally:
        sys.path.remove(str(BENCHMARKS))


def fake_mnist(n=256):
    rng = numpy.random.default_rng(0)
    return types.SimpleNamespace(x_train=rng.integers(0, 256, (n, 784), dtype=numpy.uint8),
                                 y_train=rng.integers(0, 10, n))


@pytest.mark.parametrize("workload", ["reference", "lenet"])
def test_the_profile_accounts_for_every_part_of_the_step(speed, workload):
    medians, layers = speed.profile(workload, fake_mnist(), steps=3)
    parts = [k for k in medians if k != "step"]
    assert {("forward", j) for j in range(len(layers))} <= set(parts)
    assert {"loss forward", "loss backward", "optimizer", "batch"} <= set(parts)
    assert sum(medians[k] for k in parts) <= medians["step"] * 1.5


def test_the_torch_lenet_computes_minifa_lenet_under_bp(speed):
    torch = pytest.importorskip("torch")
    import torch_nets

    model = lenet((1, 28, 28), 10, "bp", seed=0, dtype="float64")
    twin = torch_nets.lenet(model)
    x = numpy.random.default_rng(1).random((4, 784))
    want = model.forward(x)
    got = twin(torch.from_numpy(x)).detach().numpy()
    numpy.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_a_table_times_minifa_with_and_without_its_fused_loops(speed):
    from minifa import numba_kernels
    from minifa.backend import get_backend

    result = speed.table("reference", fake_mnist(), None, rounds=2)
    names = ["minifa"] + (["minifa-plain"] if numba_kernels.enabled() else [])
    assert list(result["rows"]) == names
    block = speed.WORKLOADS["reference"][2]
    assert all(row["n"] == 2 * block and row["median"] > 0 for row in result["rows"].values())
    assert get_backend("numpy").fused  # the plain contestant's turn switched them back on
