"""Regenerate the figures in docs/figures from fresh runs.

    python examples/make_figures.py --data-dir DIR
    python examples/make_figures.py --compare-csv compare_rules.csv   # reuse a comparison

Trains the reference MLP under FA, KP and DFA with alignment diagnostics (on
the first 1,000 test images, ten times an epoch), prints the per-epoch angles
and the diagnostics' cost, and writes learning curves, alignment plots and the
rule comparison (from --compare-csv, or from a fresh run of every rule).
"""

import os
import sys

import pandas

import minifa
from minifa import cli, plots

HERE = os.path.dirname(os.path.abspath(__file__))


def run_rule(rule, ds, args, diagnostics=True):
    sizes = [ds.n_features, 128, 64, ds.n_classes]  # the reference widths, sized to the data
    model = minifa.mlp(sizes, rule=rule, seed=args.seed, dtype=args.dtype, backend=args.backend)
    opt = minifa.Adam(model.parameters(), lr=args.lr,
                      weight_decay=minifa.model.WEIGHT_DECAY.get(rule, 0.0))
    loader, test = cli.loaders(ds, args, args.backend)
    # ten records an epoch (and one before training) for the figures
    every = max(1, len(loader) // 10)
    diag = minifa.Diagnostics(test[0][:1000], test[1][:1000], every=every) \
        if diagnostics else None
    history = minifa.train(model, opt, loader, epochs=args.epochs, test=test, diagnostics=diag,
                           threads=args.threads)
    history.insert(0, "rule", rule)
    return history, diag, len(loader), cli.recipe(args, rule, opt, ds)


def parse_args(argv=None):
    p = cli.parser(__doc__)
    cli.add_common_arguments(p)
    p.add_argument("--out", default=os.path.join(HERE, "..", "docs", "figures"),
                   help="folder for the figures")
    p.add_argument("--compare-csv", default=None,
                   help="a CSV written by compare_rules.py; without it every rule is trained")
    return p.parse_args(argv)


def run(args):
    ds = cli.load_data(args)
    os.makedirs(args.out, exist_ok=True)
    angles = ["delta_angle_1", "delta_angle_2", "weight_angle_2", "weight_angle_3"]
    for rule in ("fa", "kp", "dfa"):
        history, diag, steps, title = run_rule(rule, ds, args)
        shown = [c for c in angles if history[c].notna().any()]
        print(f"\n{rule}: test accuracy and angles (degrees) per epoch")
        print(history[["epoch", "acc_test", *shown]].round(4).to_string(index=False))
        start = diag.frame().query("step == 0").set_index("layer")
        print("before training: delta angles " + ", ".join(
            f"layer {k}: {v:.1f}" for k, v in start["delta_angle"].items()) +
            "; weight angles " + ", ".join(f"layer {k}: {v:.1f}" for k, v in
                                           start["weight_angle"].dropna().items()))
        n_records = len(diag.frame()) // len(start)
        per_record, epoch_s = diag.seconds / n_records, history["seconds"].median()
        print(f"diagnostics: {per_record:.4f} s per record ({n_records} records) vs "
              f"{epoch_s:.3f} s per training epoch: {100 * per_record / epoch_s:.1f}% of an "
              "epoch when recorded once per epoch")
        plots.alignment(history, os.path.join(args.out, f"{rule}-alignment.png"), title,
                        records=diag.frame(), steps_per_epoch=steps)
        if rule == "fa":
            plots.learning_curves(history, os.path.join(args.out, "fa-curves.png"), title)
    if args.compare_csv:
        everything = pandas.read_csv(args.compare_csv)
    else:
        everything = pandas.concat([run_rule(r, ds, args, diagnostics=False)[0]
                                    for r in minifa.RULES], ignore_index=True)
    kp = minifa.model.WEIGHT_DECAY["kp"]
    plots.compare(everything, os.path.join(args.out, "rules.png"),
                  f"every rule, Adam lr {args.lr:g}, batch {args.batch_size}, "
                  f"{everything['epoch'].max()} epochs, seed {args.seed}, {ds.name}\n"
                  f"(KP with decay {kp!r}; the others without)")
    print(f"\nfigures written to {os.path.abspath(args.out)}")


def main(argv=None):
    return cli.main(run, parse_args, argv)


if __name__ == "__main__":
    sys.exit(main())
