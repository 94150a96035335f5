"""Train the reference MLP (784-128-64-10, ReLU, Adam, batch 64) on MNIST.

    python examples/mnist.py                       # embedded 5,000-image subset, offline
    python examples/mnist.py --data-dir DIR --rule fa
    python examples/mnist.py --backend cupy --data mnist
    python examples/mnist.py --rule dfa --explain --diagnostics --plot run.png

Prints where the data came from and one row per epoch as it finishes; with
``--diagnostics`` also each layer's angle between the rule's delta and BP's
(d1, d2, ...) and between W.T and B (w2, w3, ...), measured on the first 1,000
test images after each epoch.
"""

import argparse
import os
import sys

import minifa
from minifa import cli

SIZES = [784, 128, 64, 10]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_common_arguments(p)
    p.add_argument("--rule", default="fa", choices=sorted(minifa.RULES),
                   help="learning rule of every dense layer (default: fa)")
    p.add_argument("--activation", default="relu", choices=sorted(minifa.model.ACTIVATIONS),
                   help="hidden-layer activation (default: relu, as the reference)")
    p.add_argument("--loss", default="softmax-ce", choices=list(minifa.losses.LOSSES),
                   help="softmax cross-entropy (default), sigmoid cross-entropy on each "
                        "output, or half the squared error, all against one-hot labels")
    p.add_argument("--optimizer", default="adam", choices=["adam", "sgd"],
                   help="Adam (default) or plain SGD (with --momentum)")
    p.add_argument("--momentum", type=float, default=0.0, metavar="MU",
                   help="SGD's momentum (default: 0)")
    p.add_argument("--weight-decay", type=float, default=None, metavar="LAMBDA",
                   help="decoupled weight decay, constant (default: for kp, which needs it, "
                        "100 for the first 75 steps, then 0.1, measured at --lr 3e-4; else 0)")
    p.add_argument("--checkpoint", default=None, metavar="PATH",
                   help="save the whole training state here after every epoch (and on Ctrl-C)")
    p.add_argument("--resume", action="store_true",
                   help="continue from --checkpoint, exactly where it stopped")
    p.add_argument("--checkpoint-every", type=cli.positive(int), default=None, metavar="STEPS",
                   help="also save every STEPS minibatches")
    p.add_argument("--explain", action="store_true",
                   help="print the backward equations of the rule with their shapes")
    p.add_argument("--diagnostics", action="store_true",
                   help="record alignment angles per layer after each epoch")
    p.add_argument("--plot", default=None, metavar="PATH",
                   help="save learning curves (and alignment, with --diagnostics) as PNG")
    return p.parse_args(argv)


def plot(history, path, title):
    """Learning curves at ``path``; alignment beside it when it was recorded."""
    from minifa import plots

    plots.learning_curves(history, path, title)
    written = [path]
    if "delta_angle_1" in history.columns:
        stem, ext = os.path.splitext(path)
        written.append(f"{stem}-alignment{ext or '.png'}")
        plots.alignment(history, written[-1], title)
    return written


def run(args):
    for flag in ("csv", "plot", "checkpoint"):
        cli.check_output(f"--{flag}", getattr(args, flag))
    if (args.resume or args.checkpoint_every) and not args.checkpoint:
        raise minifa.InputError("--resume and --checkpoint-every need --checkpoint PATH")
    backend = minifa.get_backend(args.backend)
    ds = cli.load_data(args)
    print(f"backend: {backend.name}, rule: {args.rule}, dtype: {args.dtype}, seed: {args.seed}")
    model = minifa.mlp(SIZES, rule=args.rule, activation=args.activation, seed=args.seed,
                       dtype=args.dtype, backend=backend)
    loss = minifa.losses.LOSSES[args.loss]()
    if args.explain:
        model.explain(args.batch_size, loss=loss)
    decay = args.weight_decay
    if decay is None:
        decay = minifa.model.WEIGHT_DECAY.get(args.rule, 0.0)
    if args.optimizer == "sgd":
        optimizer = minifa.SGD(model.parameters(), lr=args.lr, momentum=args.momentum,
                               weight_decay=decay)
    else:
        optimizer = minifa.Adam(model.parameters(), lr=args.lr, weight_decay=decay)
    if (args.optimizer, args.loss, args.activation) != ("adam", "softmax-ce", "relu"):
        print(f"model: {'-'.join(map(str, SIZES))} {args.activation}, loss: {args.loss}, "
              f"optimizer: {args.optimizer} lr {args.lr:g}"
              + (f" momentum {args.momentum:g}" if args.momentum else ""))
    if decay:
        print(f"weight decay: {decay!r}")
    loader, test = cli.loaders(ds, args, backend)
    if args.resume and os.path.exists(args.checkpoint):
        print(f"resuming from {args.checkpoint}")
    diagnostics, angles = None, []
    if args.diagnostics:
        diagnostics = minifa.Diagnostics(test[0][:1000], test[1][:1000], loss=loss)
        n_layers = len(SIZES) - 1
        angles = [f"delta_angle_{i}" for i in range(1, n_layers + 1)] + \
                 [f"weight_angle_{i}" for i in range(2, n_layers + 1)]
    history = cli.train_and_report(model, optimizer, loader, test, args, extra=angles,
                                   loss=loss, diagnostics=diagnostics, checkpoint=args.checkpoint,
                                   resume=args.resume, checkpoint_every=args.checkpoint_every)
    if args.plot:
        written = plot(history, args.plot, f"{args.rule.upper()} on {ds.name}")
        print(f"figures written to {', '.join(written)}")
    return history


def main(argv=None):
    return cli.main(run, parse_args, argv)


if __name__ == "__main__":
    sys.exit(main())
