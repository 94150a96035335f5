"""Seconds per training epoch of the reference run (784-128-64-10, Adam 3e-4,
batch 64) and the process's peak memory.

    python benchmarks/epoch_time.py --data-dir DIR
    python benchmarks/epoch_time.py --data-dir DIR --backend cupy --rule fa --epochs 5

The first epoch is reported apart (it warms caches and allocators); the
median and range are over the rest. Run it on an otherwise idle machine:
two processes that each start BLAS threads on the same cores slow each
other down far more than twice.
"""

import argparse
import json
import resource
import statistics
import sys

import minifa


def peak_rss_mb():
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kB on Linux
    return kb / 1024


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backend", default=None)
    p.add_argument("--rule", default="fa", choices=sorted(minifa.RULES))
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", default="mnist", choices=["mnist", "mnist-small"])
    p.add_argument("--data-dir", default=None)
    p.add_argument("--json", action="store_true", help="print one JSON object instead")
    args = p.parse_args(argv)
    if args.epochs < 2:
        p.error("--epochs must be at least 2 (the first one is a warm-up)")
    try:
        backend = minifa.get_backend(args.backend)
        ds = minifa.load_mnist(args.data, data_dir=args.data_dir, seed=args.seed, scaled=False)
    except minifa.MinifaError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    model = minifa.mlp([784, 128, 64, 10], rule=args.rule, seed=args.seed, backend=backend)
    loader = minifa.DataLoader(ds.x_train, ds.y_train, batch_size=args.batch_size,
                               seed=minifa.streams(args.seed).shuffle, backend=backend,
                               scale=255)
    history = minifa.train(model, minifa.Adam(model.parameters()), loader, epochs=args.epochs)
    seconds = list(history["seconds"])
    rest = seconds[1:]
    result = {
        "backend": backend.name,
        "rule": args.rule,
        "data": ds.source,
        "batch_size": args.batch_size,
        "steps_per_epoch": len(loader),
        "first_epoch_s": seconds[0],
        "median_epoch_s": statistics.median(rest),
        "min_epoch_s": min(rest),
        "max_epoch_s": max(rest),
        "us_per_batch": statistics.median(rest) / len(loader) * 1e6,
        "peak_rss_mb": peak_rss_mb(),
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"data: {ds.source}")
        print(f"{backend.name} {args.rule} batch {args.batch_size}: median "
              f"{result['median_epoch_s']:.3f} s/epoch (min {result['min_epoch_s']:.3f}, "
              f"max {result['max_epoch_s']:.3f}; first {seconds[0]:.3f}) = "
              f"{result['us_per_batch']:.0f} us/batch over {len(loader)} steps; "
              f"peak RSS {result['peak_rss_mb']:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
