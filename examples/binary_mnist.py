"""Train the reference binary network (784-300-100-10, binary weights, sign activations) on MNIST.

    python examples/binary_mnist.py                    # embedded 5,000-image subset, offline
    python examples/binary_mnist.py --data-dir DIR     # full MNIST
    python examples/binary_mnist.py --stochastic --backend cupy

The network of Bender.jl's binary example: every dense layer is a
``BinaryLinear`` (forward through sign(W), straight-through backward), the two
hidden layers end in ``SignSTE`` activations, the output stays real-valued.
Trained by BP with Adam (lr 3e-4, batch 64); the real-valued weights are
clamped to [-1, 1] after each epoch. ``--stochastic`` binarizes the weights
stochastically (+1 with probability hardsigmoid(W)) at every forward pass,
evaluation included.

As in Bender.jl, whose ``sign_STE`` passes the delta straight through, the
hidden activations use ``SignSTE(clip=None)``. Hubara et al.'s mask
1[|z| <= 1] (``--ste-clip 1``) suits inputs kept near [-1, 1] by batch norm;
here, without it, hidden pre-activations are sums of hundreds of +-x terms
(mean |z| about 7 and 14 at initialisation) and the mask passes only 5-10% of
the deltas, so the network learns several times slower.

Reference test accuracy by epoch (Bender.jl, full MNIST, 10 epochs):

    0.792 0.830 0.849 0.852 0.859 0.870 0.869 0.855 0.873 0.867

Prints where the data came from and one row per epoch as it finishes.
"""

import argparse
import os
import sys
import tempfile

import minifa
from minifa.layers.binary import BinaryLinear, SignSTE, clamp_weights

SIZES = [784, 300, 100, 10]
REFERENCE_ACC_TEST = [0.792, 0.830, 0.849, 0.852, 0.859, 0.870, 0.869, 0.855, 0.873, 0.867]


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
    p.add_argument("--stochastic", action="store_true",
                   help="binarize weights stochastically instead of by sign")
    p.add_argument("--ste-clip", type=positive(float), default=None, metavar="C",
                   help="hidden sign activations pass the delta only where |z| <= C "
                        "(Hubara et al.: 1); default: everywhere, as Bender.jl")
    p.add_argument("--epochs", type=positive(int), default=10)
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
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".csv", dir=folder)
    try:
        with os.fdopen(fd, "w") as f:
            history.to_csv(f, index=False)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def binary_mlp(sizes, stochastic=False, ste_clip=None, seed=0, dtype="float32", backend=None):
    """``BinaryLinear`` layers with ``SignSTE(clip=ste_clip)`` between them
    (none after the last).

    Weights come from the seed's ``weights`` stream, stochastic draws from its
    ``noise`` stream.
    """
    rngs = minifa.streams(seed)
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        layers.append(BinaryLinear(n_in, n_out, stochastic=stochastic, rng=rngs.weights,
                                   noise_rng=rngs.noise, dtype=dtype, backend=backend))
        if i < len(sizes) - 2:
            layers.append(SignSTE(clip=ste_clip))
    return minifa.Sequential(*layers)


def run(args):
    if args.csv and not os.path.isdir(os.path.dirname(os.path.abspath(args.csv))):
        raise minifa.InputError(f"--csv {args.csv}: its folder does not exist; create it first")
    backend = minifa.get_backend(args.backend)
    data = args.data
    if data == "auto" and args.data_dir is not None:
        data = "mnist"  # a folder was named: use it, and say so if it is incomplete
    ds = minifa.load_mnist(data, data_dir=args.data_dir, seed=args.seed)
    print(f"data: {ds.source}")
    weights = "stochastic" if args.stochastic else "sign"
    ste = "identity" if args.ste_clip is None else f"|z| <= {args.ste_clip:g}"
    print(f"backend: {backend.name}, binary weights: {weights}, STE: {ste}, "
          f"dtype: {args.dtype}, seed: {args.seed}")
    model = binary_mlp(SIZES, stochastic=args.stochastic, ste_clip=args.ste_clip,
                       seed=args.seed, dtype=args.dtype, backend=backend)
    optimizer = minifa.Adam(model.parameters(), lr=args.lr)
    x_train, x_test = ds.x_train.astype(args.dtype, copy=False), ds.x_test.astype(args.dtype,
                                                                                  copy=False)
    loader = minifa.DataLoader(x_train, ds.y_train, batch_size=args.batch_size,
                               seed=minifa.streams(args.seed).shuffle, backend=backend)
    test = (backend.asarray(x_test), backend.asarray(ds.y_test))
    print(f"{'epoch':>5} {'loss_train':>10} {'loss_test':>10} {'acc_train':>9} {'acc_test':>8} "
          f"{'s/epoch':>8}")

    def end_of_epoch(row):
        clamp_weights(model)  # W to [-1, 1], in place, after the epoch's test evaluation
        print(f"{row['epoch']:>5d} {row['loss_train']:>10.4f} {row['loss_test']:>10.4f} "
              f"{row['acc_train']:>9.4f} {row['acc_test']:>8.4f} {row['seconds']:>8.3f}",
              flush=True)

    history = minifa.train(model, optimizer, loader, epochs=args.epochs, test=test,
                           on_epoch=end_of_epoch)
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
