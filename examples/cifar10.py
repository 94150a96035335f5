"""Train an MLP or a small conv net on CIFAR-10 (or any dataset) under a chosen learning rule.

    python examples/cifar10.py --data-dir DIR                       # MLP 3072-1000-1000-1000-10
    python examples/cifar10.py --data-dir DIR --model conv --rule fa  # LeNet-style, 3x32x32
    python examples/cifar10.py --data-dir DIR --rule dfa --activation tanh --epochs 100

DIR holds cifar-10-python.tar.gz or its extracted cifar-10-batches-py/ (default
~/.cache/minifa/cifar10, where the tarball is downloaded, MD5-checked, if
missing). ``--model mlp`` trains an MLP whose every dense layer follows
``--rule`` (any rule of examples/mnist.py; widths from ``--sizes``, default
3072,1000,1000,1000,10 as in Nokland 2016); ``--model conv`` trains the LeNet of
examples/lenet.py sized to 3x32x32 images, under bp or fa. Pixels are scaled to
[0, 1], nothing else (no augmentation, no normalisation). Prints where the
data came from and one row per epoch as it finishes; --checkpoint, --resume,
--diagnostics and --plot work as in examples/mnist.py.
"""

import sys

import minifa
from minifa import cli
from minifa.convnet import LAYERS, lenet

HIDDEN = (1000, 1000, 1000)


def parse_args(argv=None):
    p = cli.parser(__doc__)
    cli.add_common_arguments(p)
    cli.add_run_arguments(p)
    p.set_defaults(data="cifar10")
    cli.add_sizes_argument(p, hidden=HIDDEN)
    p.add_argument("--model", default="mlp", choices=["mlp", "conv"],
                   help="mlp (widths from --sizes) or conv (LeNet-style) (default: mlp)")
    p.add_argument("--rule", default="fa", choices=sorted(minifa.RULES),
                   help="learning rule (default: fa; the conv net takes bp or fa)")
    p.add_argument("--activation", default="relu", choices=sorted(minifa.model.ACTIVATIONS),
                   help="the MLP's hidden activation (default: relu)")
    return p.parse_args(argv)


def build(args, backend):
    """The model the flags ask for, checked against the dataset before it loads."""
    if args.model == "conv":
        if args.rule not in LAYERS:
            raise minifa.InputError(f"--model conv trains by {' or '.join(LAYERS)}, not "
                                    f"{args.rule}: use --model mlp for the other rules")
        if args.sizes is not None:
            raise minifa.InputError("--sizes sets the MLP's widths; --model conv takes none")
        image_shape, n_classes = cli.data_shape(args)
        return lenet(image_shape, n_classes, args.rule, seed=args.seed, dtype=args.dtype,
                     backend=backend)
    return minifa.mlp(cli.mlp_sizes(args), rule=args.rule, activation=args.activation,
                      seed=args.seed, dtype=args.dtype, backend=backend)


def run(args):
    backend = minifa.get_backend(args.backend)
    model = build(args, backend)
    ds = cli.load_data(args)
    print(f"backend: {backend.name}, model: {args.model}, rule: {args.rule}, "
          f"dtype: {args.dtype}, seed: {args.seed}")
    print(model.summary())
    decay = minifa.model.WEIGHT_DECAY.get(args.rule, 0.0)
    optimizer = minifa.Adam(model.parameters(), lr=args.lr, weight_decay=decay)
    return cli.run_training(model, optimizer, ds, args, backend, args.rule)


def main(argv=None):
    return cli.main(run, parse_args, argv)


if __name__ == "__main__":
    sys.exit(main())
