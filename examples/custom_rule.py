"""Write your own learning rule: B = W.T + sigma N, from backprop (sigma = 0) towards FA.

    python examples/custom_rule.py                      # embedded subset, offline
    python examples/custom_rule.py --data-dir DIR       # full MNIST
    python examples/custom_rule.py --sigmas 0 1 4 --epochs 3

``NoisyFeedbackLinear`` below is a complete rule in a dozen lines: a dense
layer whose error goes down through the transpose of its weights plus fixed
random noise. At sigma = 0 it is backprop; as sigma grows the fixed random
part takes over and the rule becomes feedback alignment with B = sigma N.
docs/writing-a-rule.md walks through it, and tests/test_custom_rule.py tests
it with minifa.gradcheck.

The experiment trains the reference MLP (784-128-64-10, ReLU, Adam 3e-4, batch
64) with every dense layer following the rule, once per sigma, plus FA for
comparison, all from the same seed, and prints the test accuracy of the last
epoch and the angle between the delta each hidden layer received and
backprop's (d1, d2; measured on the first 1,000 test images).
"""

import argparse
import sys

import pandas

import minifa
from minifa import cli
from minifa.init import glorot_uniform
from minifa.seeding import as_rng

SIZES = [784, 128, 64, 10]


class NoisyFeedbackLinear(minifa.Linear):
    """Dense layer whose error goes down through W.T plus fixed noise:

        B = W.T + sigma N          (out, in); N drawn once, Glorot-uniform like W
        delta_in = delta @ B       (n, out) @ (out, in) -> (n, in);  BP: delta @ W.T

    Forward and weight gradients are ``Linear``'s. ``N`` is fixed, never
    trained, and saved with checkpoints like any array a layer holds.
    """

    feedback_expr = "{d} @ (W_{l}.T + sigma N_{l})"  # for model.explain()
    feedback_names = ("N",)  # the backward path's own array: not a parameter

    def __init__(self, n_in, n_out, sigma, *, rng=None, feedback_rng=None, dtype="float32",
                 backend=None):
        super().__init__(n_in, n_out, rng=rng, dtype=dtype, backend=backend)
        self.sigma = float(sigma)
        self.N = glorot_uniform(as_rng(feedback_rng), (self.n_out, self.n_in), self.dtype,
                                self.backend)

    def feedback(self, delta):
        B = self.W.T + self.sigma * self.N  # (out, in), from the current W every step
        return delta @ B  # (n, out) @ (out, in) -> (n, in)

    def __repr__(self):
        return f"NoisyFeedbackLinear({self.n_in}, {self.n_out}, sigma={self.sigma:g})"


def noisy_mlp(sizes, sigma, seed=0, dtype="float32", backend=None):
    """The MLP of ``minifa.mlp`` with every dense layer a ``NoisyFeedbackLinear``:
    the same seed gives the same W as ``mlp(sizes, rule=..., seed=seed)``."""
    rngs = minifa.streams(seed)
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        layers.append(NoisyFeedbackLinear(n_in, n_out, sigma, rng=rngs.weights,
                                          feedback_rng=rngs.feedback, dtype=dtype,
                                          backend=backend))
        if i < len(sizes) - 2:
            layers.append(minifa.ReLU())
    return minifa.Sequential(*layers)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_common_arguments(p, epochs=5)
    p.add_argument("--sigmas", type=float, nargs="+", default=[0.0, 0.5, 1.0, 2.0, 4.0],
                   metavar="SIGMA", help="noise scales to train (default: 0 0.5 1 2 4)")
    args = p.parse_args(argv)
    if min(args.sigmas) < 0:
        p.error("--sigmas must be 0 or more")
    return args


def run_one(model, ds, args, backend):
    """Train ``model``; returns its last history row (accuracy and angles)."""
    optimizer = minifa.Adam(model.parameters(), lr=args.lr)
    loader, test = cli.loaders(ds, args, backend)
    diagnostics = minifa.Diagnostics(test[0][:1000], test[1][:1000])
    history = minifa.train(model, optimizer, loader, epochs=args.epochs, test=test,
                           diagnostics=diagnostics, threads=args.threads)
    return history.iloc[-1]


def run(args):
    backend = minifa.get_backend(args.backend)
    ds = cli.load_data(args)
    print(f"backend: {backend.name}, epochs: {args.epochs}, seed: {args.seed}")
    runs = [(f"sigma {s:g}", noisy_mlp(SIZES, s, seed=args.seed, dtype=args.dtype,
                                        backend=backend)) for s in args.sigmas]
    runs.append(("fa", minifa.mlp(SIZES, rule="fa", seed=args.seed, dtype=args.dtype,
                                  backend=backend)))
    print(f"{'rule':>10} {'acc_test':>9} {'d1':>6} {'d2':>6}")
    rows = []
    for name, model in runs:
        last = run_one(model, ds, args, backend)
        rows.append({"rule": name, "acc_test": last["acc_test"],
                     "delta_angle_1": last["delta_angle_1"],
                     "delta_angle_2": last["delta_angle_2"]})
        print(f"{name:>10} {last['acc_test']:>9.4f} {last['delta_angle_1']:>6.1f} "
              f"{last['delta_angle_2']:>6.1f}", flush=True)
    table = pandas.DataFrame(rows)
    if args.csv:
        cli.write_csv(table, args.csv)
    return table


def main(argv=None):
    return cli.main(run, parse_args, argv)


if __name__ == "__main__":
    sys.exit(main())
