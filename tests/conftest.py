import pytest

from strict_backend import SYNCS, install


@pytest.fixture
def strict():
    backend = install()
    SYNCS.update(count=0, to_device=0, to_host=0)
    return backend
