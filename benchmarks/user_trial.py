"""Try, as a user would, each case a new user's trial stumbled on, and print what they see.

    python benchmarks/user_trial.py

Runs the examples on the embedded subset (--data mnist-small, one or two epochs) in a
temporary folder, plus a few Python API calls, and prints one row per case: the case,
the first line a user reads (the error, or the first line that tells them something)
and the test that covers it. Takes about a minute on 2 cores.
"""

import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EX = ROOT / "examples"
SMALL = ["--data", "mnist-small"]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "MINIFA_BACKEND": "numpy",
       "OPENBLAS_NUM_THREADS": "1", "PYTHONWARNINGS": "default"}
BORING = ("data: ", "backend: ", "epoch ", "weight decay", "usage:", "  ")


def run(args, cwd, env=None):
    proc = subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=env or ENV, timeout=300)
    return proc.returncode, proc.stdout, proc.stderr


def telling(rc, out, err, want=None):
    """The line a user notices: ``want``'s line if given, else the first error or
    warning line, else the first line that is not routine output."""
    lines = [ln for ln in (err + "\n" + out).splitlines() if ln.strip()]
    if want is not None:
        lines = [ln for ln in lines if want in ln] or lines
    else:
        loud = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith(BORING)]
        lines = loud or [ln for ln in lines if not ln.startswith(BORING)] or lines
    first = lines[0].strip() if lines else ""
    return f"[exit {rc}] {first}"


def last_line(script):
    """The last line of a script's docstring: what a complete --help must show."""
    import ast

    doc = ast.get_docstring(ast.parse(Path(script).read_text()))
    return [line for line in doc.splitlines() if line.strip()][-1]


def offline(script, *args):
    """``python script args`` with the MNIST mirrors pointed at a closed port (no waiting
    on a network this machine may not have)."""
    code = ("import runpy, sys; from minifa.data import mnist; "
            "mnist.MIRRORS = ('http://127.0.0.1:9/',); "
            f"sys.argv = {[str(script), *map(str, args)]!r}; "
            f"runpy.run_path({str(script)!r}, run_name='__main__')")
    return ["-c", code]


def api(code, cwd):
    """Run a short Python snippet; its last printed line (or its error) is the answer."""
    script = "import minifa, numpy\n" + textwrap.dedent(code)
    rc, out, err = run(["-c", script], cwd)
    last = (err.strip().splitlines() or [""])[-1] if rc else (out.strip().splitlines()
                                                              or [""])[-1]
    return f"[exit {rc}] {last}"


def ctrl_c(cwd):
    """--csv with Ctrl-C during epoch 2."""
    cmd = [sys.executable, str(EX / "mnist.py"), *SMALL, "--epochs", "50", "--csv", "ci.csv",
           "--checkpoint", "ci.npz", "--batch-size", "16"]  # 250 steps: Ctrl-C mid-epoch 2
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=cwd, env=ENV)
    for line in proc.stdout:
        if line.strip().startswith("1 "):
            break
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    csv = Path(cwd, "ci.csv")
    kept = f"; ci.csv rows: {len(csv.read_text().splitlines()) - 1}" if csv.exists() \
        else "; no ci.csv"
    return telling(proc.returncode, out, err) + kept


def cases(tmp):
    d = Path(tmp)
    (d / "adir").mkdir()
    mnist = EX / "mnist.py"
    half = d / "half"
    half.mkdir()
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"):
        (half / name).write_bytes(b"")
    trunc = d / "trunc"
    trunc.mkdir()
    import gzip

    header = bytes([0, 0, 8, 3]) + (60000).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2
    with gzip.open(trunc / "train-images-idx3-ubyte.gz", "wb") as f:
        f.write(header + bytes(1000))
    with open(trunc / "train-images-idx3-ubyte.gz", "r+b") as f:
        f.truncate(os.path.getsize(f.name) // 2)
    for name in ("train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (trunc / f"{name}.gz").write_bytes(b"")
    flags_t = "tests/test_example_flags.py::"
    ckpt_t = "tests/test_checkpoint.py::"
    train_t = "tests/test_training.py::"
    data_t = "tests/test_datasets.py::"
    quiet = d / "quiet"  # a folder of its own, to see which files a run leaves
    quiet.mkdir()

    yield ("outputs checked too late: --csv DIR",
           lambda: telling(*run([mnist, *SMALL, "--csv", "adir"], d)),
           flags_t + "test_outputs_are_refused_before_the_data_is_loaded")
    yield ("outputs checked too late: --csv in an unwritable place",
           lambda: telling(*run([mnist, *SMALL, "--csv", "/sys/h.csv"], d)),
           flags_t + "test_outputs_are_refused_before_the_data_is_loaded")
    yield ("outputs checked too late: --plot x.xyz",
           lambda: telling(*run([mnist, *SMALL, "--plot", "x.xyz"], d)),
           flags_t + "test_outputs_are_refused_before_the_data_is_loaded")
    yield ("outputs checked too late: --checkpoint DIR",
           lambda: telling(*run([mnist, *SMALL, "--checkpoint", "adir"], d)),
           flags_t + "test_outputs_are_refused_before_the_data_is_loaded")
    yield ("resume finds nothing: --checkpoint typo.npz --resume",
           lambda: telling(*run([mnist, *SMALL, "--rule", "bp", "--epochs", "2",
                                 "--checkpoint", "typo.npz", "--resume"], d)),
           flags_t + "test_resume_without_a_checkpoint_says_so_and_starts_fresh")
    yield ("resume of a finished run: --epochs 2 --resume after it finished",
           lambda: telling(*run([mnist, *SMALL, "--rule", "bp", "--epochs", "2",
                                 "--checkpoint", "typo.npz", "--resume"], d),
                           want="already trained"),
           flags_t + "test_resume_of_a_finished_run_says_so_and_shows_its_history")
    yield ("(existing checkpoint without --resume)",
           lambda: telling(*run([mnist, *SMALL, "--rule", "bp", "--epochs", "2",
                                 "--checkpoint", "typo.npz"], d)),
           flags_t + "test_an_existing_checkpoint_is_not_overwritten_without_resume")
    yield ("resume under another seed: --seed 5 on a seed-0 checkpoint",
           lambda: telling(*run([mnist, *SMALL, "--rule", "bp", "--epochs", "3", "--seed", "5",
                                 "--checkpoint", "typo.npz", "--resume"], d)),
           flags_t + "test_resume_under_other_settings_is_refused_naming_that_flag, "
           + ckpt_t + "test_each_mismatch_names_only_its_own_setting")
    yield ("(resume under another --lr: names only --lr)",
           lambda: telling(*run([mnist, *SMALL, "--rule", "bp", "--epochs", "3", "--lr", "1e-3",
                                 "--checkpoint", "typo.npz", "--resume"], d)),
           flags_t + "test_resume_under_other_settings_is_refused_naming_that_flag")
    yield ("infinite losses pass: --lr 1e9 --epochs 3",
           lambda: telling(*run([mnist, *SMALL, "--lr", "1e9", "--epochs", "3"], d)),
           flags_t + "test_divergence_is_one_line_and_keeps_the_csv, " + train_t
           + "test_divergence_is_one_error_and_no_warnings, "
           + "test_an_infinite_test_loss_stops_training_with_the_finished_epochs")
    for arg in ("lr=float('nan')", "lr=-1", "lr=0", "momentum=1.0"):
        yield (f"API accepts what the CLI refuses: SGD(params, {arg})",
               lambda arg=arg: api(f"""
                   m = minifa.mlp([4, 3], seed=0)
                   minifa.SGD(m.parameters(), {arg})
                   print("accepted")""", d),
               "tests/test_optim.py::test_out_of_range_hyper_parameters_are_one_line_errors")
    yield ("API accepts what the CLI refuses: Adam(params, betas=(1.0, 0.999))",
           lambda: api("""
               m = minifa.mlp([4, 3], seed=0)
               minifa.Adam(m.parameters(), betas=(1.0, 0.999))
               print("accepted")""", d),
           "tests/test_optim.py::test_out_of_range_hyper_parameters_are_one_line_errors")
    yield ("silent sample drop: --batch-size 3000 on 4000 samples",
           lambda: telling(*run([mnist, *SMALL, "--epochs", "1", "--batch-size", "3000"], d),
                           want="note:"),
           flags_t + "test_a_large_batch_says_what_it_drops_and_keep_last_keeps_it")
    yield ("half a data folder: --data-dir with 2 of the 4 files",
           lambda: telling(*run(offline(mnist, "--data-dir", half, "--epochs", "1"), d)),
           data_t + "test_half_a_folder_names_what_is_missing")
    yield ("half a data folder: MINIFA_DATA the same, --data auto",
           lambda: telling(*run(offline(mnist, "--epochs", "1", "--rule", "bp"), d,
                                {**ENV, "MINIFA_DATA": str(half)}), want="note:"),
           data_t + "test_auto_note_only_when_a_folder_was_named")
    yield ("wrong diagnosis: a truncated train-images .gz",
           lambda: telling(*run(offline(mnist, "--data-dir", trunc, "--epochs", "1"), d)),
           data_t + "test_truncated_gzip_says_truncated")
    yield ("file for a folder: --data-dir FILE.gz",
           lambda: telling(*run(offline(mnist, "--data-dir",
                                        trunc / "train-images-idx3-ubyte.gz", "--epochs", "1"),
                                d)),
           data_t + "test_a_file_for_a_folder")
    yield ("ignored flag: --data mnist-small --data-dir X",
           lambda: telling(*run([mnist, *SMALL, "--data-dir", half, "--epochs", "1",
                                 "--rule", "bp"], d), want="error"),
           data_t + "test_embedded_data_with_a_folder_is_refused")
    yield ("help: compare_rules.py --help shows the whole description",
           lambda: "[exit {}] last description line shown: {}; defaults shown: {}".format(
               *(lambda rc, out, err: (rc, " ".join(last_line(EX / "compare_rules.py").split())
                                       in " ".join(out.split()),
                                       "(default: 64)" in out))(
                   *run([EX / "compare_rules.py", "--help"], d))),
           flags_t + "test_help_shows_the_whole_description_and_the_defaults")
    yield ("help: mnist.py --help explains d1 d2 w2",
           lambda: "[exit {}] columns explained: {}".format(
               *(lambda rc, out, err: (rc, "columns d1 d2" in " ".join(out.split())))(
                   *run([mnist, "--help"], d))),
           flags_t + "test_mnist_help_explains_the_angle_columns")
    yield ("help: --epochs 1.5",
           lambda: telling(*run([mnist, "--epochs", "1.5"], d), want="error"),
           flags_t + "test_help_shows_the_whole_description_and_the_defaults")
    yield ("plots: --diagnostics --plot kp.png (ticks, epoch 0, recipe)",
           lambda: telling(*run([mnist, *SMALL, "--rule", "kp", "--epochs", "2",
                                 "--diagnostics", "--plot", "kp.png"], d), want="figures"),
           flags_t + "test_alignment_plot_has_whole_epochs_epoch_0_and_the_recipe")
    yield ("plots: compare legend covers curves",
           lambda: api("""
               import pandas
               from minifa import plots
               h = pandas.DataFrame([{"rule": r, "epoch": e, "acc_test": .5, "seconds": 1.}
                                     for r in minifa.RULES for e in (1, 2)])
               seen = {}
               def keep(fig, path):
                   fig.canvas.draw()
                   ax = fig.axes[0]
                   seen["o"] = ax.get_legend().get_window_extent().overlaps(
                       ax.get_window_extent())
               plots._save = keep
               plots.compare(h, "c.png")
               print("legend overlaps the accuracy axes:", bool(seen["o"]))""", d),
           flags_t + "test_compare_legend_sits_outside_the_curves")
    yield ("unasked files: compare_rules.py writes compare_rules.csv",
           lambda: "[exit {}] CSV files in the folder afterwards: {}".format(
               run([EX / "compare_rules.py", *SMALL, "--epochs", "1", "--rules", "bp"],
                   quiet)[0], sorted(p.name for p in Path(quiet).glob("*.csv")) or "none"),
           "tests/test_compare_rules.py::"
           "test_seeds_report_mean_and_std_and_write_csv_only_when_asked")
    for name in ("lenet", "binary_mnist"):
        yield (f"flags differ per example: {name}.py --checkpoint --diagnostics --plot",
               lambda name=name: telling(*run([EX / f"{name}.py", "--help"], d),
                                         want="--diagnostics"),
               flags_t + "test_every_training_example_takes_the_same_run_flags, "
               + flags_t + "test_binary_net_with_diagnostics_checkpoint_and_plot, "
               + flags_t + "test_diagnostics_work_on_the_lenet")
    yield ("Ctrl-C loses the CSV: Ctrl-C with --csv ci.csv",
           lambda: ctrl_c(d),
           flags_t + "test_ctrl_c_writes_the_csv_of_the_finished_epochs, " + train_t
           + "test_interrupted_training_hands_back_the_finished_epochs")
    yield ("Ctrl-C: resumed epoch's seconds",
           lambda: api("""
               from minifa import checkpoint
               meta, _ = checkpoint.read("ci.npz")
               print(f"checkpoint in epoch {meta['epoch']} step {meta['step']} keeps "
                     f"{meta['seconds']:.3f} s of that epoch for the resumed row")""", d),
           ckpt_t + "test_resumed_epoch_counts_the_seconds_before_the_interruption")
    yield ("API errors speak CLI: DataLoader(batch_size > samples)",
           lambda: api("""
               x = numpy.zeros((10, 4), "float32"); y = numpy.zeros(10, int)
               minifa.DataLoader(x, y, batch_size=20)""", d),
           train_t + "test_api_errors_name_the_argument")
    yield ("API errors speak CLI: checkpoint of another architecture",
           lambda: api("""
               x = numpy.zeros((32, 4), "float32"); y = numpy.zeros(32, int)
               def build(width):
                   m = minifa.mlp([4, width, 2], seed=0)
                   return m, minifa.Adam(m.parameters()), minifa.DataLoader(x, y, batch_size=8)
               m, o, l = build(3)
               minifa.train(m, o, l, epochs=1, checkpoint="arch.npz")
               m, o, l = build(5)
               minifa.checkpoint.load("arch.npz", m, o, l)""", d),
           ckpt_t + "test_mismatched_model_is_named")
    yield ("two runs of seed 0 differ: README snippet vs examples/mnist.py",
           lambda: readme_vs_cli(d),
           flags_t + "test_readme_snippet_gives_the_numbers_of_the_example")
    yield ("warnings in the suite: divergence under warnings-as-errors",
           lambda: api("""
               import warnings
               warnings.simplefilter("error")
               rng = numpy.random.default_rng(0)
               x = rng.random((96, 6), dtype=numpy.float32); y = rng.integers(0, 3, 96)
               m = minifa.mlp([6, 32, 32, 3], seed=0)
               try:
                   minifa.train(m, minifa.Adam(m.parameters(), lr=1e30),
                                minifa.DataLoader(x, y, batch_size=16), epochs=2, test=(x, y))
               except minifa.TrainingStopped as e:
                   print("no warning; TrainingStopped:", str(e)[:60])""", d),
           train_t + "test_divergence_is_one_error_and_no_warnings")


def readme_vs_cli(d):
    import re

    snippet = re.search(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S).group(1)
    snippet = snippet.replace("epochs=10", "epochs=2").replace(
        "print(history)", "").replace(
        "print(model.summary())", "") + "\nprint(' '.join(f'{a:.4f}' for a in history['acc_test']))"
    got = api(snippet, d).split("] ", 1)[1]
    rc, out, err = run([EX / "mnist.py", *SMALL, "--epochs", "2", "--seed", "0"], d)
    cli = " ".join(line.split()[4] for line in out.splitlines() if line.strip()[:1].isdigit())
    return f"[exit {rc}] acc_test README {got} | CLI {cli} | same: {got == cli}"


def main():
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for finding, attempt, test in cases(tmp):
            try:
                seen = attempt()
            except Exception as exc:  # a case that cannot even be tried says so
                seen = f"(trial failed: {type(exc).__name__}: {exc})"
            rows.append((finding, seen, test))
            print(f"| {finding} | {seen} | {test} |", flush=True)
    return rows


if __name__ == "__main__":
    print("| finding | what the user sees now | test |")
    print("|---|---|---|")
    main()
