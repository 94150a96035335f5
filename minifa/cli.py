"""What the example scripts share: flags, data loading, the epoch table, exit codes."""

import argparse
import os
import sys

from .backend import get_backend
from .data import DataLoader, load_mnist
from .errors import InputError, MinifaError, TrainingStopped
from .fileio import atomic_write
from .seeding import streams
from .training import train

COLUMNS = [("epoch", 5, "d"), ("loss_train", 10, ".4f"), ("loss_test", 10, ".4f"),
           ("acc_train", 9, ".4f"), ("acc_test", 8, ".4f"), ("seconds", 8, ".3f")]


def positive(kind):
    """An argparse type: a number of ``kind`` above zero."""
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
    """An argparse type: an integer of 0 or more (a seed)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def add_common_arguments(p, epochs=10):
    """--backend --epochs --batch-size --lr --seed --dtype --data --data-dir --csv."""
    p.add_argument("--backend", default=None,
                   help="numpy or cupy (default: $MINIFA_BACKEND, else numpy)")
    p.add_argument("--epochs", type=positive(int), default=epochs)
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


def check_output(flag, path):
    """Fail before training, not after, when an output's folder is missing."""
    if path and not os.path.isdir(os.path.dirname(os.path.abspath(path))):
        raise InputError(f"{flag} {path}: its folder does not exist; create it first")


def load_data(args):
    """The dataset the flags ask for (pixels kept as uint8), saying which it is."""
    data = args.data
    if data == "auto" and args.data_dir is not None:
        data = "mnist"  # a folder was named: use it, and say so if it is incomplete
    ds = load_mnist(data, data_dir=args.data_dir, seed=args.seed, scaled=False)
    print(f"data: {ds.source}")
    return ds


def loaders(ds, args, backend):
    """The training DataLoader and the test pair, both on ``backend``.

    Pixels stay uint8 (47 MB for full MNIST, not 188) and are scaled per batch.
    """
    loader = train_loader(ds, args, backend)
    return loader, test_set(ds, loader)


def train_loader(ds, args, backend):
    """The shuffled training DataLoader (uint8 pixels, scaled per batch)."""
    return DataLoader(ds.x_train, ds.y_train, batch_size=args.batch_size,
                      seed=streams(args.seed).shuffle, backend=get_backend(backend), scale=255,
                      dtype=args.dtype)


def test_set(ds, loader):
    """The test pair on ``loader``'s backend, scaled as its batches are."""
    backend = loader.backend
    return loader.features(backend.asarray(ds.x_test)), backend.asarray(ds.y_test)


class EpochTable:
    """Prints the history's header, then one row per epoch as it finishes;
    ``extra`` columns (e.g. alignment angles) go on the right as 6.1f."""

    def __init__(self, extra=()):
        self.extra = list(extra)

    def header(self):
        names = "".join(f" {name if name != 'seconds' else 's/epoch':>{w}}"
                        for name, w, _ in COLUMNS)
        print(names[1:] + "".join(f" {label:>6}" for label in self.labels()))

    def labels(self):
        return [c[0] + c.rsplit("_", 1)[1] for c in self.extra]  # delta_angle_2 -> d2

    def __call__(self, row):
        cells = "".join(f" {row[name]:>{w}{fmt}}" for name, w, fmt in COLUMNS)
        print(cells[1:] + "".join(f" {row[c]:>6.1f}" for c in self.extra), flush=True)


def train_and_report(model, optimizer, loader, test, args, extra=(), after_epoch=None,
                     **train_kwargs):
    """``train`` with the epoch table printed as it goes and ``--csv`` written at the
    end; ``after_epoch(row)`` runs before each row is printed."""
    table = EpochTable(extra)
    table.header()

    def on_epoch(row):
        if after_epoch is not None:
            after_epoch(row)
        table(row)

    history = train(model, optimizer, loader, epochs=args.epochs, test=test, on_epoch=on_epoch,
                    **train_kwargs)
    if args.csv:
        write_csv(history, args.csv)
    return history


def write_csv(history, path):
    with atomic_write(path, "w") as f:
        history.to_csv(f, index=False)
    print(f"history written to {path}")


def main(run, parse_args, argv=None):
    """Run ``run(args)``; a MinifaError becomes one line on stderr and exit 2,
    an interrupt exit 130."""
    args = parse_args(argv)
    try:
        run(args)
    except TrainingStopped as exc:
        print(f"{'stopped' if exc.interrupted else 'error'}: {exc}", file=sys.stderr)
        return 130 if exc.interrupted else 2
    except MinifaError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
