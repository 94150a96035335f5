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
import tempfile

import minifa

SIZES = [784, 128, 64, 10]


def positive(kind):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value

    return parse


def non_negative(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backend", default=None,
                   help="numpy or cupy (default: $MINIFA_BACKEND, else numpy)")
    p.add_argument("--rule", default="fa", choices=sorted(minifa.RULES),
                   help="learning rule of every dense layer (default: fa)")
    p.add_argument("--epochs", type=positive(int), default=10)
    p.add_argument("--batch-size", type=positive(int), default=64)
    p.add_argument("--lr", type=positive(float), default=3e-4)
    p.add_argument("--seed", type=non_negative, default=0)
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    p.add_argument("--data", default="auto", choices=["auto", "mnist", "mnist-small"],
                   help="auto: full MNIST if its files are present, else the embedded subset")
    p.add_argument("--data-dir", default=None,
                   help="folder with the four MNIST IDX files (default: $MINIFA_DATA, "
                        "else ~/.cache/minifa/mnist)")
    p.add_argument("--csv", default=None, metavar="PATH", help="also write the history here")
    p.add_argument("--activation", default="relu", choices=sorted(minifa.model.ACTIVATIONS),
                   help="hidden-layer activation (default: relu, as the reference)")
    p.add_argument("--checkpoint", default=None, metavar="PATH",
                   help="save the whole training state here after every epoch (and on Ctrl-C)")
    p.add_argument("--resume", action="store_true",
                   help="continue from --checkpoint, exactly where it stopped")
    p.add_argument("--checkpoint-every", type=positive(int), default=None, metavar="STEPS",
                   help="also save every STEPS minibatches")
    p.add_argument("--explain", action="store_true",
                   help="print the backward equations of the rule with their shapes")
    p.add_argument("--diagnostics", action="store_true",
                   help="record alignment angles per layer after each epoch")
    p.add_argument("--plot", default=None, metavar="PATH",
                   help="save learning curves (and alignment, with --diagnostics) as PNG")
    return p.parse_args(argv)


def write_csv(history, path):
    """Write atomically: a crash never leaves a half-written file at ``path``."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".csv", dir=folder)
    try:
        with os.fdopen(fd, "w") as f:
            history.to_csv(f, index=False)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def check_output(flag, path):
    if path and not os.path.isdir(os.path.dirname(os.path.abspath(path))):
        raise minifa.InputError(f"{flag} {path}: its folder does not exist; create it first")


def plot(history, path, title):
    """Learning curves at ``path``; alignment beside it when it was recorded."""
    from minifa import plots

    plots.learning_curves(history, path, title)
    written = [path]
    if "delta_angle_1" in history.columns:
        stem, ext = os.path.splitext(path)
        plots.alignment(history, f"{stem}-alignment{ext or '.png'}", title)
        written.append(f"{stem}-alignment{ext or '.png'}")
    return written


def run(args):
    check_output("--csv", args.csv)
    check_output("--plot", args.plot)
    check_output("--checkpoint", args.checkpoint)
    if (args.resume or args.checkpoint_every) and not args.checkpoint:
        raise minifa.InputError("--resume and --checkpoint-every need --checkpoint PATH")
    backend = minifa.get_backend(args.backend)
    data = args.data
    if data == "auto" and args.data_dir is not None:
        data = "mnist"  # a folder was named: use it, and say so if it is incomplete
    ds = minifa.load_mnist(data, data_dir=args.data_dir, seed=args.seed, scaled=False)
    print(f"data: {ds.source}")
    print(f"backend: {backend.name}, rule: {args.rule}, dtype: {args.dtype}, seed: {args.seed}")
    model = minifa.mlp(SIZES, rule=args.rule, activation=args.activation, seed=args.seed,
                       dtype=args.dtype, backend=backend)
    if args.explain:
        model.explain(args.batch_size)
    optimizer = minifa.Adam(model.parameters(), lr=args.lr)
    # Pixels stay uint8 (47 MB for full MNIST, not 188) and are scaled per batch.
    loader = minifa.DataLoader(ds.x_train, ds.y_train, batch_size=args.batch_size,
                               seed=minifa.streams(args.seed).shuffle, backend=backend,
                               scale=255, dtype=args.dtype)
    test = (backend.asarray(loader.features(ds.x_test)), backend.asarray(ds.y_test))
    if args.resume and args.checkpoint and os.path.exists(args.checkpoint):
        print(f"resuming from {args.checkpoint}")
    diagnostics = minifa.Diagnostics(test[0][:1000], test[1][:1000]) if args.diagnostics \
        else None
    angles = []
    if diagnostics is not None:
        n_layers = len(SIZES) - 1
        angles = [f"delta_angle_{i}" for i in range(1, n_layers + 1)] + \
                 [f"weight_angle_{i}" for i in range(2, n_layers + 1)]
    header = "".join(f" {c[0]}{c.rsplit('_', 1)[1]:>5}" for c in angles)
    print(f"{'epoch':>5} {'loss_train':>10} {'loss_test':>10} {'acc_train':>9} {'acc_test':>8} "
          f"{'s/epoch':>8}{header}")

    def show(row):
        extra = "".join(f" {row[c]:>6.1f}" for c in angles)
        print(f"{row['epoch']:>5d} {row['loss_train']:>10.4f} {row['loss_test']:>10.4f} "
              f"{row['acc_train']:>9.4f} {row['acc_test']:>8.4f} {row['seconds']:>8.3f}{extra}",
              flush=True)

    history = minifa.train(model, optimizer, loader, epochs=args.epochs, test=test,
                           on_epoch=show, diagnostics=diagnostics, checkpoint=args.checkpoint,
                           resume=args.resume, checkpoint_every=args.checkpoint_every)
    if args.csv:
        write_csv(history, args.csv)
        print(f"history written to {args.csv}")
    if args.plot:
        written = plot(history, args.plot, f"{args.rule.upper()} on {ds.name}")
        print(f"figures written to {', '.join(written)}")
    return history


def main(argv=None):
    args = parse_args(argv)
    try:
        run(args)
    except minifa.TrainingStopped as exc:
        print(f"{'stopped' if exc.interrupted else 'error'}: {exc}", file=sys.stderr)
        return 130 if exc.interrupted else 2
    except minifa.MinifaError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
