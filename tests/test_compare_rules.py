"""examples/compare_rules.py trains the rules side by side, epoch by epoch; each rule's
numbers must be those of its own uninterrupted run."""

import importlib.util
from pathlib import Path

import minifa
from minifa import cli

SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "compare_rules.py"
COLUMNS = ["epoch", "loss_train", "loss_test", "acc_train", "acc_test"]


def load_example():
    spec = importlib.util.spec_from_file_location("compare_rules_example", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
