"""Train a LeNet-5-style conv net (LeCun et al. 1998) on MNIST by BP or FA.

    python examples/lenet.py --data mnist-small --epochs 2 --rule fa
    python examples/lenet.py --backend cupy --data mnist

    1x28x28 -> conv 6@5x5 (pad 2) -> ReLU -> maxpool 2 -> conv 16@5x5 -> ReLU -> maxpool 2
            -> 400 -> 120 -> ReLU -> 84 -> ReLU -> 10

``--rule fa`` makes every conv and dense layer send its error down through a
fixed random B (FAConv2d, FALinear); ``--rule bp`` uses W (Conv2d, Linear).
Prints where the data came from and one row per epoch as it finishes.
"""

import argparse
import os
import sys
import tempfile

import minifa
from minifa.layers.conv import Conv2d, FAConv2d, Flatten, MaxPool2d, Reshape

LAYERS = {"bp": (Conv2d, minifa.Linear), "fa": (FAConv2d, minifa.FALinear)}


def lenet(rule="fa", seed=0, dtype="float32", backend=None):
    """LeNet-5 with ReLU and max pooling; weights from the seed's ``weights``
    stream, feedback filters and matrices from its ``feedback`` stream."""
    conv, dense = LAYERS[rule]
    rngs = minifa.streams(seed)
    kw = dict(rng=rngs.weights, dtype=dtype, backend=minifa.get_backend(backend))
    if rule == "fa":
        kw["feedback_rng"] = rngs.feedback
    return minifa.Sequential(
        Reshape((1, 28, 28)),  # (n, 784) rows -> (n, 1, 28, 28) images
        conv(1, 6, 5, padding=2, **kw), minifa.ReLU(), MaxPool2d(2),  # -> (n, 6, 14, 14)
        conv(6, 16, 5, **kw), minifa.ReLU(), MaxPool2d(2),  # -> (n, 16, 5, 5)
        Flatten(),  # -> (n, 400)
        dense(400, 120, **kw), minifa.ReLU(),
        dense(120, 84, **kw), minifa.ReLU(),
        dense(84, 10, **kw),
    )


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


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backend", default=None,
                   help="numpy or cupy (default: $MINIFA_BACKEND, else numpy)")
    p.add_argument("--rule", default="fa", choices=sorted(LAYERS),
                   help="learning rule of every conv and dense layer (default: fa)")
    p.add_argument("--epochs", type=positive(int), default=5)
    p.add_argument("--batch-size", type=positive(int), default=64)
    p.add_argument("--lr", type=positive(float), default=3e-4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    p.add_argument("--data", default="auto", choices=["auto", "mnist", "mnist-small"],
                   help="auto: full MNIST if its files are present, else the embedded subset")
    p.add_argument("--data-dir", default=None,
                   help="folder with the four MNIST IDX files (default: $MINIFA_DATA, "
                        "else ~/.cache/minifa/mnist)")
    p.add_argument("--csv", default=None, metavar="PATH", help="also write the history here")
    return p.parse_args(argv)


def write_csv(history, path):
    """Write atomically: a crash never leaves a half-written file at ``path``."""
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".csv",
                               dir=os.path.dirname(os.path.abspath(path)))
    try:
        with os.fdopen(fd, "w") as f:
            history.to_csv(f, index=False)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def run(args):
    if args.csv and not os.path.isdir(os.path.dirname(os.path.abspath(args.csv))):
        raise minifa.InputError(f"--csv {args.csv}: its folder does not exist; create it first")
    backend = minifa.get_backend(args.backend)
    data = "mnist" if args.data == "auto" and args.data_dir is not None else args.data
    ds = minifa.load_mnist(data, data_dir=args.data_dir, seed=args.seed)
    print(f"data: {ds.source}")
    print(f"backend: {backend.name}, rule: {args.rule}, dtype: {args.dtype}, seed: {args.seed}")
    model = lenet(args.rule, seed=args.seed, dtype=args.dtype, backend=backend)
    optimizer = minifa.Adam(model.parameters(), lr=args.lr)
    x_train = ds.x_train.astype(args.dtype, copy=False)
    x_test = ds.x_test.astype(args.dtype, copy=False)
    loader = minifa.DataLoader(x_train, ds.y_train, batch_size=args.batch_size,
                               seed=minifa.streams(args.seed).shuffle, backend=backend)
    test = (backend.asarray(x_test), backend.asarray(ds.y_test))
    print(f"{'epoch':>5} {'loss_train':>10} {'loss_test':>10} {'acc_train':>9} {'acc_test':>8} "
          f"{'s/epoch':>8}")

    def show(row):
        print(f"{row['epoch']:>5d} {row['loss_train']:>10.4f} {row['loss_test']:>10.4f} "
              f"{row['acc_train']:>9.4f} {row['acc_test']:>8.4f} {row['seconds']:>8.3f}",
              flush=True)

    history = minifa.train(model, optimizer, loader, epochs=args.epochs, test=test,
                           on_epoch=show)
    if args.csv:
        write_csv(history, args.csv)
        print(f"history written to {args.csv}")
    return history


def main(argv=None):
    args = parse_args(argv)
    try:
        run(args)
    except minifa.MinifaError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
