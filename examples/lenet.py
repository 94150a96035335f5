"""Train a LeNet-5-style conv net (LeCun et al. 1998) on MNIST by BP or FA.

    python examples/lenet.py --data mnist-small --epochs 2 --rule fa
    python examples/lenet.py --backend cupy --data mnist

    1x28x28 -> conv 6@5x5 (pad 2) -> ReLU -> maxpool 2 -> conv 16@5x5 -> ReLU -> maxpool 2
            -> 400 -> 120 -> ReLU -> 84 -> ReLU -> 10

``--rule fa`` makes every conv and dense layer send its error down through a
fixed random B (FAConv2d, FALinear); ``--rule bp`` uses W (Conv2d, Linear).
Prints where the data came from and one row per epoch as it finishes
(--diagnostics adds each layer's alignment angles, as in mnist.py).
"""

import sys

import minifa
from minifa import cli
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


def parse_args(argv=None):
    p = cli.parser(__doc__)
    cli.add_common_arguments(p, epochs=5)
    cli.add_run_arguments(p)
    p.add_argument("--rule", default="fa", choices=sorted(LAYERS),
                   help="learning rule of every conv and dense layer")
    return p.parse_args(argv)


def run(args):
    backend = minifa.get_backend(args.backend)
    ds = cli.load_data(args)
    print(f"backend: {backend.name}, rule: {args.rule}, dtype: {args.dtype}, seed: {args.seed}")
    model = lenet(args.rule, seed=args.seed, dtype=args.dtype, backend=backend)
    optimizer = minifa.Adam(model.parameters(), lr=args.lr)
    return cli.run_training(model, optimizer, ds, args, backend, args.rule)


def main(argv=None):
    return cli.main(run, parse_args, argv)


if __name__ == "__main__":
    sys.exit(main())
