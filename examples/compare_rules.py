"""Train the reference MLP (784-128-64-10, ReLU, Adam 3e-4, batch 64) under every
learning rule with the same seed, and compare test accuracy and speed.

    python examples/compare_rules.py                          # embedded subset, offline
    python examples/compare_rules.py --data-dir DIR --csv rules.csv
    python examples/compare_rules.py --rules bp fa kp --epochs 5

Every rule starts from the same forward weights and sees the same minibatches.
The rules train side by side, one epoch each in turn (the order rotated every
round), so a drift in the machine's speed hits every rule alike. Prints one
table (rule, test accuracy per epoch, median seconds per epoch and its ratio
to BP's) and writes every epoch of every rule as CSV.
"""

import statistics
import sys

import pandas

import minifa
from minifa import cli

SIZES = [784, 128, 64, 10]
WEIGHT_DECAY = minifa.model.WEIGHT_DECAY  # only Kolen-Pollack uses one


def parse_args(argv=None):
    p = cli.parser(__doc__)
    cli.add_common_arguments(p)
    p.set_defaults(csv="compare_rules.csv")
    p.add_argument("--rules", nargs="+", default=list(minifa.RULES), choices=list(minifa.RULES),
                   metavar="RULE", help=f"rules to train (default: all: {' '.join(minifa.RULES)})")
    p.add_argument("--plot", default=None, metavar="PATH",
                   help="save the comparison figure (accuracy per epoch, time vs BP) as PNG")
    return p.parse_args(argv)


def setup_rule(rule, ds, backend, args, test=None):
    """Model, optimizer, loader and test pair of one rule (the test pair shared)."""
    model = minifa.mlp(SIZES, rule=rule, seed=args.seed, dtype=args.dtype, backend=backend)
    opt = minifa.Adam(model.parameters(), lr=args.lr, weight_decay=WEIGHT_DECAY.get(rule, 0.0))
    loader = cli.train_loader(ds, args, backend)
    return model, opt, loader, test if test is not None else cli.test_set(ds, loader)


def train_side_by_side(rules, ds, backend, args):
    """One epoch of every rule per round, the order rotated each round. A rule's
    loader and optimizer carry on between its epochs, so each rule's run is the
    one ``minifa.train(..., epochs=args.epochs)`` would give."""
    runs, test = {}, None
    for rule in rules:
        runs[rule] = setup_rule(rule, ds, backend, args, test)
        test = runs[rule][3]
    rows = {rule: [] for rule in rules}
    for epoch in range(1, args.epochs + 1):
        turn = (epoch - 1) % len(rules)
        for rule in rules[turn:] + rules[:turn]:
            row = minifa.train(*runs[rule][:3], epochs=1, test=runs[rule][3]).iloc[0].copy()
            row["epoch"] = epoch  # train() counts from 1 on every call
            rows[rule].append(row)
        print(f"epoch {epoch}/{args.epochs}: " + ", ".join(
            f"{rule} {rows[rule][-1]['acc_test']:.4f}" for rule in rules), flush=True)
    histories = []
    for rule in rules:
        history = pandas.DataFrame(rows[rule]).reset_index(drop=True)
        history["epoch"] = history["epoch"].astype(int)
        history.insert(0, "rule", rule)
        histories.append(history)
    return histories


def summary(histories):
    """One row per rule: test accuracy per epoch, median s/epoch, ratio to BP."""
    rows = []
    for h in histories:
        row = {"rule": h["rule"].iloc[0]}
        row.update({f"acc@{e}": a for e, a in zip(h["epoch"], h["acc_test"])})
        row["s/epoch"] = statistics.median(h["seconds"])
        rows.append(row)
    table = pandas.DataFrame(rows).set_index("rule")
    if "bp" in table.index:
        table["x BP"] = table["s/epoch"] / table.loc["bp", "s/epoch"]
    return table


def run(args):
    for flag in ("csv", "plot"):
        cli.check_output(f"--{flag}", getattr(args, flag))
    backend = minifa.get_backend(args.backend)
    ds = cli.load_data(args)
    print(f"backend: {backend.name}, seed: {args.seed}, epochs: {args.epochs}")
    histories = train_side_by_side(list(args.rules), ds, backend, args)
    table = summary(histories)
    with pandas.option_context("display.width", 200, "display.max_columns", 40,
                               "display.float_format", "{:.4f}".format):
        print(table)
    everything = pandas.concat(histories, ignore_index=True)
    cli.write_csv(everything, args.csv)
    if args.plot:
        from minifa import plots

        plots.compare(everything, args.plot, f"every rule on {ds.name}, seed {args.seed}")
        print(f"figure written to {args.plot}")
    return table


def main(argv=None):
    return cli.main(run, parse_args, argv)


if __name__ == "__main__":
    sys.exit(main())
