r"""Train one MLP under every learning rule, same seeds, and compare test accuracy and speed.

    python examples/compare_rules.py                          # embedded subset, offline
    python examples/compare_rules.py --data digits --seeds 3  # mean ± std over seeds 0, 1, 2
    python examples/compare_rules.py --data-dir DIR --csv rules.csv
    python examples/compare_rules.py --rules bp,fa,kp --epochs 5 --sizes 784,500,10
    python examples/compare_rules.py --data cifar10 --data-dir DIR --rules bp,fa,dfa \
        --sizes 3072,1000,1000,1000,10 --activation tanh --seeds 3 --epochs 100

The MLP is the reference network (784-128-64-10 on MNIST: the dataset's
features, 128, 64, its classes; ReLU, Adam 3e-4, batch 64) unless --sizes
and --activation say otherwise. For each seed every rule starts from the same forward weights
and sees the same minibatches. The rules train side by side, one epoch each
in turn (the order rotated every round), so a drift in the machine's speed
hits every rule alike. With one seed it prints one table (rule, test accuracy
per epoch, median seconds per epoch and its ratio to BP's); with --seeds N
(seeds --seed .. --seed+N-1; the data split stays that of --seed) the test
accuracy per epoch as mean ± sample standard deviation over the seeds.
--csv writes the numbers behind the table: every epoch of every rule for one
seed, the means and standard deviations per rule and epoch for several.
"""

import argparse
import statistics
import sys

import pandas

import minifa
from minifa import cli

WEIGHT_DECAY = minifa.model.WEIGHT_DECAY  # only Kolen-Pollack uses one
METRICS = ["acc_test", "loss_test", "acc_train", "loss_train"]


def parse_args(argv=None):
    p = cli.parser(__doc__)
    cli.add_common_arguments(p)
    cli.add_sizes_argument(p)
    p.add_argument("--rules", nargs="+", default=list(minifa.RULES), metavar="RULE",
                   help=f"rules to train, comma- or space-separated (default: all: "
                        f"{','.join(minifa.RULES)})")
    p.add_argument("--activation", default="relu", choices=sorted(minifa.model.ACTIVATIONS),
                   help="hidden-layer activation (default: relu, as the reference)")
    p.add_argument("--seeds", type=cli.positive(int), default=1, metavar="N",
                   help="train every rule under N seeds and report mean ± std (default: 1)")
    p.add_argument("--plot", default=None, metavar="PATH",
                   help="save the comparison figure (accuracy per epoch, time vs BP) as PNG")
    args = p.parse_args(argv)
    rules = [r for item in args.rules for r in item.split(",") if r]
    unknown = [r for r in rules if r not in minifa.RULES]
    if unknown or not rules:
        p.error(f"argument --rules: unknown rule {', '.join(unknown) or '(none given)'}; "
                f"choose from {','.join(minifa.RULES)}")
    args.rules = list(dict.fromkeys(rules))  # each rule once, in the order given
    return args


def setup_rule(rule, ds, backend, args, test=None):
    """Model, optimizer, loader and test pair of one rule (the test pair shared)."""
    model = minifa.mlp(cli.mlp_sizes(args), rule=rule, activation=args.activation,
                       seed=args.seed, dtype=args.dtype, backend=backend)
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
    prefix = f"seed {args.seed}, " if getattr(args, "seeds", 1) > 1 else ""
    for epoch in range(1, args.epochs + 1):
        turn = (epoch - 1) % len(rules)
        for rule in rules[turn:] + rules[:turn]:
            row = minifa.train(*runs[rule][:3], epochs=1, test=runs[rule][3],
                               threads=args.threads).iloc[0].copy()
            row["epoch"] = epoch  # train() counts from 1 on every call
            rows[rule].append(row)
        print(f"{prefix}epoch {epoch}/{args.epochs}: " + ", ".join(
            f"{rule} {rows[rule][-1]['acc_test']:.4f}" for rule in rules), flush=True)
    histories = []
    for rule in rules:
        history = pandas.DataFrame(rows[rule]).reset_index(drop=True)
        history["epoch"] = history["epoch"].astype(int)
        history.insert(0, "rule", rule)
        history.insert(1, "seed", args.seed)
        histories.append(history)
    return histories


def train_seeds(rules, ds, backend, args):
    """Every rule side by side under each seed in turn; one frame of all epochs."""
    histories = []
    for seed in range(args.seed, args.seed + args.seeds):
        histories += train_side_by_side(rules, ds, backend,
                                        argparse.Namespace(**{**vars(args), "seed": seed}))
    return pandas.concat(histories, ignore_index=True)


def summary(histories):
    """One row per rule: test accuracy per epoch, median s/epoch, ratio to BP."""
    rows = []
    for h in histories:
        row = {"rule": h["rule"].iloc[0]}
        row.update({f"acc@{e}": a for e, a in zip(h["epoch"], h["acc_test"])})
        row["s/epoch"] = statistics.median(h["seconds"])
        rows.append(row)
    return with_bp_ratio(pandas.DataFrame(rows).set_index("rule"))


def mean_std(everything):
    """Per rule and epoch: mean and sample std (ddof 1) of every metric over the
    seeds, the median seconds and the number of seeds."""
    groups = everything.groupby(["rule", "epoch"], sort=False)
    stats = groups[METRICS].agg(["mean", "std"])
    stats.columns = [f"{metric}_{stat}" for metric, stat in stats.columns]
    stats["seconds_median"] = groups["seconds"].median()
    stats["seeds"] = groups.size()
    return stats.reset_index()


def seeds_table(stats):
    """One row per rule: test accuracy 'mean ± std' per epoch, median s/epoch, ratio to BP."""
    rows = {}
    for rule, s in stats.groupby("rule", sort=False):
        row = {f"acc@{e}": f"{m:.4f} ± {d:.4f}"
               for e, m, d in zip(s["epoch"], s["acc_test_mean"], s["acc_test_std"])}
        row["s/epoch"] = s["seconds_median"].median()
        rows[rule] = row
    table = pandas.DataFrame.from_dict(rows, orient="index")
    table.index.name = "rule"
    return with_bp_ratio(table)


def with_bp_ratio(table):
    """The table with its "x BP" column (s/epoch over BP's) when BP was trained."""
    if "bp" in table.index:
        table["x BP"] = table["s/epoch"] / table.loc["bp", "s/epoch"]
    return table


def run(args):
    sizes = cli.mlp_sizes(args)
    backend = minifa.get_backend(args.backend)
    ds = cli.load_data(args)
    seeds = f"seeds {args.seed}..{args.seed + args.seeds - 1}" if args.seeds > 1 else \
        f"seed {args.seed}"
    print(f"backend: {backend.name}, mlp {'-'.join(map(str, sizes))} {args.activation}, {seeds}, "
          f"epochs: {args.epochs}")
    everything = train_seeds(list(args.rules), ds, backend, args)
    if args.seeds == 1:
        table = summary([h for _, h in everything.groupby("rule", sort=False)])
        written = everything
    else:
        written = mean_std(everything)
        table = seeds_table(written)
        print(f"test accuracy, mean ± std over {args.seeds} seeds:")
    with pandas.option_context("display.width", 250, "display.max_columns", 40,
                               "display.float_format", "{:.4f}".format):
        print(table)
    if args.csv:
        cli.write_csv(written, args.csv)
    if args.plot:
        from minifa import plots

        means = everything.groupby(["rule", "epoch"], sort=False)[["acc_test", "seconds"]] \
            .mean().reset_index()
        plots.compare(means, args.plot, f"every rule on {ds.name}, {seeds}")
        print(f"figure written to {args.plot}")
    return table


def main(argv=None):
    return cli.main(run, parse_args, argv)


if __name__ == "__main__":
    sys.exit(main())
