"""Train the reference MLP (784-128-64-10, ReLU, Adam, batch 64) on MNIST or any dataset.

    python examples/mnist.py                       # embedded 5,000-image subset, offline
    python examples/mnist.py --data-dir DIR --rule fa
    python examples/mnist.py --data digits --sizes 64,32,10 --rule dfa
    python examples/mnist.py --backend cupy --data mnist
    python examples/mnist.py --rule dfa --explain --diagnostics --plot run.png

Prints where the data came from and one row per epoch as it finishes; with
--diagnostics also each layer's angle in degrees between the rule's delta and
BP's (columns d1, d2, ...; layer 1 is the first layer with weights) and between
W.T and B (w2, w3, ...), measured on the first 1,000 test images after each
epoch: 90 means no alignment, 0 the exact gradient.
"""

import sys

import minifa
from minifa import cli


def parse_args(argv=None):
    p = cli.parser(__doc__)
    cli.add_common_arguments(p)
    cli.add_run_arguments(p)
    cli.add_sizes_argument(p)
    p.add_argument("--rule", default="fa", choices=sorted(minifa.RULES),
                   help="learning rule of every dense layer")
    p.add_argument("--activation", default="relu", choices=sorted(minifa.model.ACTIVATIONS),
                   help="hidden-layer activation")
    p.add_argument("--loss", default="softmax-ce", choices=list(minifa.losses.LOSSES),
                   help="softmax cross-entropy, sigmoid cross-entropy on each "
                        "output, or half the squared error, all against one-hot labels")
    p.add_argument("--optimizer", default="adam", choices=["adam", "sgd"],
                   help="Adam or plain SGD (with --momentum)")
    p.add_argument("--momentum", type=float, default=0.0, metavar="MU",
                   help="SGD's momentum")
    p.add_argument("--weight-decay", type=float, default=None, metavar="LAMBDA",
                   help="decoupled weight decay, constant (default: for kp, which needs it, "
                        "100 for the first 75 steps, then 0.1, measured at --lr 3e-4; else 0)")
    p.add_argument("--explain", action="store_true",
                   help="print the backward equations of the rule with their shapes")
    return p.parse_args(argv)


def run(args):
    sizes = cli.mlp_sizes(args)
    backend = minifa.get_backend(args.backend)
    ds = cli.load_data(args)
    print(f"backend: {backend.name}, rule: {args.rule}, dtype: {args.dtype}, seed: {args.seed}")
    model = minifa.mlp(sizes, rule=args.rule, activation=args.activation, seed=args.seed,
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
        print(f"model: {'-'.join(map(str, sizes))} {args.activation}, loss: {args.loss}, "
              f"optimizer: {args.optimizer} lr {args.lr:g}"
              + (f" momentum {args.momentum:g}" if args.momentum else ""))
    if decay:
        print(f"weight decay: {decay!r}")
    return cli.run_training(model, optimizer, ds, args, backend, args.rule, loss=loss)


def main(argv=None):
    return cli.main(run, parse_args, argv)


if __name__ == "__main__":
    sys.exit(main())
