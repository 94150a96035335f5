import pytest

from strict_backend import SYNCS, install


@pytest.fixture
def strict():
    backend = install()
    SYNCS["count"] = 0
    return backend
