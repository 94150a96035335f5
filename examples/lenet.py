"""Train a LeNet-5-style conv net (LeCun et al. 1998) on MNIST or any image dataset by BP or FA.

    python examples/lenet.py --data mnist-small --epochs 2 --rule fa
    python examples/lenet.py --backend cupy --data mnist
    python examples/lenet.py --data cifar10 --data-dir DIR --rule bp

    c x h x w -> conv 6@5x5 (pad 2) -> ReLU -> maxpool 2 -> conv 16@5x5 -> ReLU -> maxpool 2
              -> 16 x h2 x w2 -> 120 -> ReLU -> 84 -> ReLU -> classes

(1x28x28 MNIST: 400 values enter the dense layers; 3x32x32 CIFAR-10: 576.)
``--rule fa`` makes every conv and dense layer send its error down through a
fixed random B (FAConv2d, FALinear); ``--rule bp`` uses W (Conv2d, Linear).
Prints where the data came from and one row per epoch as it finishes
(--diagnostics adds each layer's alignment angles, as in mnist.py).
"""

import sys

import minifa
from minifa import cli
from minifa.convnet import LAYERS, lenet


def parse_args(argv=None):
    p = cli.parser(__doc__)
    cli.add_common_arguments(p, epochs=5)
    cli.add_run_arguments(p)
    p.add_argument("--rule", default="fa", choices=sorted(LAYERS),
                   help="learning rule of every conv and dense layer")
    return p.parse_args(argv)


def run(args):
    image_shape, n_classes = cli.data_shape(args)
    backend = minifa.get_backend(args.backend)
    model = lenet(image_shape, n_classes, args.rule, seed=args.seed, dtype=args.dtype,
                  backend=backend)  # built first: an image size it cannot take fails at once
    ds = cli.load_data(args)
    print(f"backend: {backend.name}, rule: {args.rule}, dtype: {args.dtype}, seed: {args.seed}")
    optimizer = minifa.Adam(model.parameters(), lr=args.lr)
    return cli.run_training(model, optimizer, ds, args, backend, args.rule)


def main(argv=None):
    return cli.main(run, parse_args, argv)


if __name__ == "__main__":
    sys.exit(main())
