import os

import pytest
import threadpoolctl

from strict_backend import SYNCS, install

# Every test on one BLAS thread, subprocesses too: tests that compare two runs to the bit
# must not see minifa's thread choice move with the load of a shared machine (auto lowers
# the threads when other processes are busy, and another count can change the last bits),
# and on a busy 2-core machine spinning BLAS threads would slow the suite several times.
os.environ["OPENBLAS_NUM_THREADS"] = "1"


@pytest.fixture(autouse=True, scope="session")
def one_blas_thread():
    with threadpoolctl.threadpool_limits(1, user_api="blas"):
        yield


@pytest.fixture
def strict():
    backend = install()
    SYNCS.update(count=0, to_device=0, to_host=0)
    return backend


@pytest.fixture
def numpy_passes(monkeypatch):
    """The NumPy backend without its fused kernels (Numba's loops, where installed):
    for tests of the plain and sliced NumPy passes themselves."""
    from minifa.backend import get_backend

    monkeypatch.setattr(get_backend("numpy"), "fused", False)
