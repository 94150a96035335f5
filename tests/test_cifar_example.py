"""examples/cifar10.py and examples/lenet.py on small synthetic CIFAR-10 files."""

from pathlib import Path

import pytest
from example_scripts import load_example
from test_datasets import batches, make_tar

from minifa.data import cifar

ROOT = Path(__file__).resolve().parents[1]


load = load_example


@pytest.fixture(scope="module")
def cifar_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cifar")
    make_tar(folder / cifar.ARCHIVE, batches())
    return folder


@pytest.mark.parametrize(("model", "rule"), [("mlp", "dfa"), ("conv", "fa"), ("conv", "bp")])
def test_cifar10_example_trains_both_models(cifar_dir, capsys, model, rule):
    example = load("cifar10")
    argv = ["--data-dir", str(cifar_dir), "--model", model, "--rule", rule, "--epochs", "1",
            "--batch-size", "4"]
    if model == "mlp":
        argv += ["--sizes", "3072,20,10"]
    history = example.run(example.parse_args(argv))
    out = capsys.readouterr().out
    assert out.startswith("data: CIFAR-10 from") and len(history) == 1
    assert "input (n, 3072)" in out  # the summary
    if model == "conv":
        assert "(n, 576)" in out


@pytest.mark.parametrize(("argv", "match"), [
    (["--model", "conv", "--rule", "dfa"], "trains by bp or fa"),
    (["--model", "conv", "--sizes", "3072,10"], "takes none"),
    (["--sizes", "784,10"], "start at 3072"),
])
def test_cifar10_example_refuses_before_loading(tmp_path, capsys, argv, match):
    example = load("cifar10")
    assert example.main(["--data-dir", str(tmp_path / "none"), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and match in err and "\n" not in err
    assert not (tmp_path / "none").exists()


def test_lenet_refuses_images_too_small(capsys):
    example = load("lenet")
    assert example.main(["--data", "digits"]) == 2
    assert "at least 12x12" in capsys.readouterr().err


def test_cifar10_example_checkpoints_resumes_and_records_alignment(cifar_dir, tmp_path, capsys):
    example = load("cifar10")
    ckpt = tmp_path / "c.npz"
    argv = ["--data-dir", str(cifar_dir), "--model", "conv", "--rule", "fa", "--batch-size",
            "4", "--diagnostics", "--checkpoint", str(ckpt)]
    assert example.main(argv + ["--epochs", "1"]) == 0
    assert ckpt.exists() and " d1 " in capsys.readouterr().out  # angle columns
    assert example.main(argv + ["--epochs", "2", "--resume"]) == 0
    out = capsys.readouterr().out
    assert [line.split()[0] for line in out.splitlines() if line[:5].strip().isdigit()] \
        == ["1", "2"]  # the saved epoch, then the resumed one
