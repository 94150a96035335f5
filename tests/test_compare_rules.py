"""examples/compare_rules.py trains the rules side by side, epoch by epoch; each rule's
numbers must be those of its own uninterrupted run."""

import statistics
from pathlib import Path

import example_scripts
import pandas
import pytest

import minifa
from minifa import cli

SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "compare_rules.py"
COLUMNS = ["epoch", "loss_train", "loss_test", "acc_train", "acc_test"]


def load_example():
    return example_scripts.load_example("compare_rules")


def test_side_by_side_epochs_equal_each_rule_trained_alone(capsys):
    example = load_example()
    args = example.parse_args(["--data", "mnist-small", "--epochs", "3", "--rules", "kp", "fa"])
    backend = minifa.get_backend("numpy")
    ds = cli.load_data(args)
    histories = example.train_side_by_side(args.rules, ds, backend, args)
    assert [h["rule"].iloc[0] for h in histories] == ["kp", "fa"]
    for rule, together in zip(args.rules, histories):
        model, opt, loader, test = example.setup_rule(rule, ds, backend, args)
        alone = minifa.train(model, opt, loader, epochs=3, test=test)
        assert together[COLUMNS].equals(alone[COLUMNS]), rule
    assert "epoch 3/3: kp " in capsys.readouterr().out


def test_seeds_report_mean_and_std_and_write_csv_only_when_asked(tmp_path, monkeypatch,
                                                                   capsys):
    from test_datasets import sklearn_digits

    monkeypatch.setattr("sklearn.datasets.load_digits", sklearn_digits)
    monkeypatch.chdir(tmp_path)
    example = load_example()
    argv = ["--data", "digits", "--epochs", "2", "--rules", "bp,fa", "dfa", "--seeds", "2",
            "--sizes", "64,16,10"]
    table = example.run(example.parse_args(argv))
    assert list(tmp_path.iterdir()) == []  # no CSV unless --csv
    assert list(table.index) == ["bp", "fa", "dfa"]
    out = capsys.readouterr().out
    assert "mlp 64-16-10 relu, seeds 0..1" in out and "mean ± std over 2 seeds" in out
    example.run(example.parse_args(argv + ["--csv", "stats.csv"]))
    stats = pandas.read_csv(tmp_path / "stats.csv")
    assert list(stats["rule"]) == ["bp", "bp", "fa", "fa", "dfa", "dfa"]
    assert (stats["seeds"] == 2).all()
    # each mean and std is that of the rule's own runs under seeds 0 and 1
    args = example.parse_args(argv)
    ds = minifa.load_dataset("digits", scaled=False)
    accs = []
    for seed in (0, 1):
        args.seed = seed
        model, opt, loader, test = example.setup_rule("fa", ds, minifa.get_backend("numpy"),
                                                      args)
        accs.append(minifa.train(model, opt, loader, epochs=2, test=test)["acc_test"].iloc[-1])
    fa = stats[(stats["rule"] == "fa") & (stats["epoch"] == 2)].iloc[0]
    assert fa["acc_test_mean"] == pytest.approx(statistics.mean(accs))
    assert fa["acc_test_std"] == pytest.approx(statistics.stdev(accs))
    shown = f"{fa['acc_test_mean']:.4f} ± {fa['acc_test_std']:.4f}"
    assert table.loc["fa", "acc@2"] == shown


def test_rules_flag_takes_commas_and_spaces_and_refuses_unknown(capsys):
    example = load_example()
    assert example.parse_args(["--rules", "bp,fa", "kp"]).rules == ["bp", "fa", "kp"]
    assert example.parse_args([]).rules == list(minifa.RULES)
    with pytest.raises(SystemExit):
        example.parse_args(["--rules", "bp,nope"])
    assert "unknown rule nope" in capsys.readouterr().err
