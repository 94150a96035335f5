"""Train the reference binary network (784-300-100-10, binary weights, sign activations) on MNIST.

    python examples/binary_mnist.py                    # embedded 5,000-image subset, offline
    python examples/binary_mnist.py --data-dir DIR     # full MNIST
    python examples/binary_mnist.py --stochastic --backend cupy
    python examples/binary_mnist.py --data fashion-mnist --data-dir DIR --sizes 784,1000,10

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

import sys

import minifa
from minifa import cli
from minifa.layers.binary import BinaryLinear, SignSTE, clamp_weights

HIDDEN = (300, 100)


def parse_args(argv=None):
    p = cli.parser(__doc__)
    cli.add_common_arguments(p)
    cli.add_run_arguments(p)
    cli.add_sizes_argument(p, hidden=HIDDEN)
    p.add_argument("--stochastic", action="store_true",
                   help="binarize weights stochastically instead of by sign")
    p.add_argument("--ste-clip", type=cli.positive(float), default=None, metavar="C",
                   help="hidden sign activations pass the delta only where |z| <= C "
                        "(Hubara et al.: 1); default: everywhere, as Bender.jl")
    return p.parse_args(argv)


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
    sizes = cli.mlp_sizes(args)
    backend = minifa.get_backend(args.backend)
    ds = cli.load_data(args)
    weights = "stochastic" if args.stochastic else "sign"
    ste = "identity" if args.ste_clip is None else f"|z| <= {args.ste_clip:g}"
    print(f"backend: {backend.name}, binary weights: {weights}, STE: {ste}, "
          f"dtype: {args.dtype}, seed: {args.seed}")
    model = binary_mlp(sizes, stochastic=args.stochastic, ste_clip=args.ste_clip,
                       seed=args.seed, dtype=args.dtype, backend=backend)
    optimizer = minifa.Adam(model.parameters(), lr=args.lr)
    # W to [-1, 1], in place, after each epoch's test evaluation
    return cli.run_training(model, optimizer, ds, args, backend, "bp",
                            after_epoch=lambda row: clamp_weights(model))


def main(argv=None):
    return cli.main(run, parse_args, argv)


if __name__ == "__main__":
    sys.exit(main())
