"""Per-step speed of minifa against PyTorch on three workloads, side by side, and a
LeNet step beside a second minifa training.

    python benchmarks/speed.py --data-dir DIR              # the three tables + beside
    python benchmarks/speed.py --data-dir DIR --profile    # and minifa's step profiles
    python benchmarks/speed.py --data-dir DIR --only lenet --rounds 80
    python benchmarks/speed.py --data-dir DIR --backend cupy --batch 1024   # on a GPU

Workloads (full MNIST train set, float32, Adam lr 3e-4, batch 64 unless --batch, so
937 steps/epoch):

  reference   784-128-64-10 MLP, ReLU, feedback alignment (FA) in every layer
  lenet       examples/lenet.py's LeNet-5: minifa under FA against PyTorch under BP
  wide        784-2048-1024-10 MLP, ReLU, FA

Contestants, all started from minifa's initial weights (torch_nets.py, torch_fa.py):

  minifa         DataLoader(uint8, scale=255) + minifa.train_step, the public API,
                 with minifa's own choice of BLAS threads
  minifa-plain   the same with the fused CPU kernels off (only where Numba is
                 installed, minifa[fast]): what the fused loops buy, in the same run
  torch-tuned    PyTorch CPU, fused Adam, torch.set_flush_denormal(True) (on during its
                 own steps only: it sets the thread's FPU flags, which NumPy shares),
                 batches gathered into preallocated buffers, zero_grad(set_to_none)
  torch-default  PyTorch CPU, torch.optim.Adam's defaults, the textbook loop

Every step is timed alone (its batch included). After one untimed block each,
the contestants take turns: each round runs a short block of steps of every
contestant (about 10-60 ms), in an order rotated each round, so drift in the
machine's speed hits all alike (blocks of 150 reference steps let two runs
disagree by 1.4-2.2x on the same code; blocks of 25 by 1.6-1.9x). A table
gives the median step, its 10th-90th percentiles and seconds per epoch (the
median times the steps per epoch). "tuned / minifa" above 1 means minifa is
faster.

Beside: minifa's LeNet step quiet, then while a second process trains minifa's
LeNet (minifa.train on the same data, started by this script and stopped after),
then quiet again; the ratio is the beside median over the quiet one. A fair
share of 2 busy cores would be about 2x.

--profile: each net's minifa step split into every layer's forward and backward,
the loss, the optimizer and the rest (argmax, sums, batch), as medians.

Run it on an otherwise idle machine: the share of the CPUs other processes used
while each table was timed is printed under it (a warning above 5%). Without
PyTorch the torch columns are left out.
"""

import argparse
import contextlib
import gc
import os
import statistics
import subprocess
import sys
import time

import numpy
from compare_torch import OtherLoad

import minifa
from minifa.convnet import lenet

# The BLAS-thread scope train_step runs in; None where this minifa leaves the BLAS alone.
blas_scope = getattr(minifa.training, "scope", None)

LR, BATCH, SEED = 3e-4, 64, 0
WORKLOADS = {  # name: (title, sizes or "lenet", steps per block)
    "reference": ("784-128-64-10 FA, Adam", [784, 128, 64, 10], 25),
    "lenet": ("LeNet-5 (examples/lenet.py), minifa FA vs PyTorch BP", "lenet", 5),
    "wide": ("784-2048-1024-10 FA, Adam", [784, 2048, 1024, 10], 4),
}


def log(*parts):
    """Progress on stderr: stdout holds the report."""
    print(*parts, file=sys.stderr, flush=True)


def build(workload, seed=SEED, backend=None):
    """minifa's model for ``workload``."""
    spec = WORKLOADS[workload][1]
    if spec == "lenet":
        return lenet((1, 28, 28), 10, "fa", seed=seed, backend=backend)
    return minifa.mlp(spec, rule="fa", seed=seed, backend=backend)


# --------------------------------------------------------------------------- contestants


class Minifa:
    """minifa's public API: a DataLoader and train_step, summed as minifa.train sums.
    ``fused=False``: the same with the backend's fused kernels off (the plain NumPy
    passes that Numba's loops replace)."""

    def __init__(self, workload, ds, fused=True, backend="numpy"):
        self.fused = fused
        self.name = ("minifa" if fused else "minifa-plain") + \
            ("" if backend == "numpy" else f"-{backend}")
        self.backend = minifa.backend.get_backend(backend)
        self.model = build(workload, backend=self.backend)
        self.optimizer = minifa.Adam(self.model.parameters(), lr=LR)
        self.loss = minifa.SoftmaxCrossEntropy()
        self.loader = minifa.DataLoader(ds.x_train, ds.y_train, batch_size=BATCH,
                                        seed=minifa.streams(SEED).shuffle, scale=255,
                                        backend=self.backend)
        self.batches = self.forever()
        self.total = self.correct = 0

    def forever(self):
        while True:
            yield from self.loader

    def step(self):
        x, y = next(self.batches)
        value, hits = minifa.train_step(self.model, self.loss, self.optimizer, x, y)
        self.total = self.total + value  # 0-d arrays, as minifa.train keeps them
        self.correct = correct = self.correct + hits
        self.backend.synchronize()  # a GPU's step ends when its kernels do (no-op on NumPy)
        return correct

    @contextlib.contextmanager
    def turn(self):
        if not hasattr(self.backend, "fused"):  # a minifa from before fused CPU loops
            yield
            return
        before, self.backend.fused = self.backend.fused, self.fused
        try:
            yield
        finally:
            self.backend.fused = before


def fused_kernels():
    """Whether this minifa has fused CPU kernels to switch off (Numba installed;
    False for a minifa from before them, so that this script times that too)."""
    kernel = getattr(minifa.fast, "adam_kernel", None)
    return kernel is not None and kernel(numpy.zeros(1, "float32")) is not None


class Torch:
    """PyTorch on the CPU, tuned or as the textbook loop."""

    def __init__(self, workload, data, tuned):
        import torch
        import torch_nets

        self.torch, self.tuned = torch, tuned
        self.name = "torch-tuned" if tuned else "torch-default"
        start = build(workload)  # the same initial weights as minifa's
        self.model = torch_nets.lenet(start) if workload == "lenet" else \
            torch_nets.mlp(start)
        self.x, self.y = data
        kind = {"fused": True} if tuned else {}
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=LR, **kind)
        self.generator = torch.Generator().manual_seed(SEED)
        self.xb = torch.empty((BATCH, self.x.shape[1]), dtype=torch.float32)
        self.yb = torch.empty((BATCH,), dtype=torch.int64)
        self.order, self.at = None, 0
        self.total = torch.zeros(())

    def next_index(self):
        torch = self.torch
        if self.order is None or self.at + BATCH > len(self.order):
            self.order, self.at = torch.randperm(len(self.y), generator=self.generator), 0
        idx = self.order[self.at:self.at + BATCH]
        self.at += BATCH
        return idx

    def step(self):
        torch, F = self.torch, self.torch.nn.functional
        idx = self.next_index()
        if self.tuned:
            torch.index_select(self.x, 0, idx, out=self.xb)
            torch.index_select(self.y, 0, idx, out=self.yb)
            loss = F.cross_entropy(self.model(self.xb), self.yb)
            loss.backward()
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
        else:
            loss = F.cross_entropy(self.model(self.x[idx]), self.y[idx])
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
        self.total += loss.detach()

    @contextlib.contextmanager
    def turn(self):
        """Flush-to-zero for the tuned steps alone (it is the thread's FPU state)."""
        if self.tuned:
            self.torch.set_flush_denormal(True)
        try:
            yield
        finally:
            if self.tuned:
                self.torch.set_flush_denormal(False)


def torch_data(ds):
    """The train set as float32 / int64 tensors (the numbers minifa's loader makes)."""
    try:
        import torch
    except ImportError:
        return None
    return (torch.from_numpy(numpy.divide(ds.x_train, 255.0, dtype=numpy.float32)),
            torch.from_numpy(ds.y_train.astype(numpy.int64)))


# --------------------------------------------------------------------------- timing


def block(contestant, steps):
    """``steps`` steps, each timed alone; returns their seconds."""
    gc.collect()
    times = []
    with contestant.turn():
        for _ in range(steps):
            start = time.perf_counter()
            contestant.step()
            times.append(time.perf_counter() - start)
    return times


def interleaved(contestants, steps, rounds):
    """One untimed block each, then ``rounds`` rounds of a block each, rotated."""
    for c in contestants:
        block(c, max(5, steps // 3))
    times = {c.name: [] for c in contestants}
    for r in range(rounds):
        turn = r % len(contestants)
        for c in contestants[turn:] + contestants[:turn]:
            times[c.name] += block(c, steps)
    return times


def summary(times):
    t = numpy.array(times)
    return {"median": float(numpy.median(t)), "p10": float(numpy.percentile(t, 10)),
            "p90": float(numpy.percentile(t, 90)), "n": len(t)}


def table(workload, ds, data, rounds, backend="numpy"):
    title, _, steps = WORKLOADS[workload]
    steps = max(2, steps * 64 // BATCH)  # blocks of about the same time at any batch
    contestants = [Minifa(workload, ds)]
    if backend != "numpy":
        contestants.append(Minifa(workload, ds, backend=backend))
    elif fused_kernels():
        contestants.append(Minifa(workload, ds, fused=False))
    if data is not None:
        contestants += [Torch(workload, data, tuned=True), Torch(workload, data, tuned=False)]
    log(f"{workload}: {rounds} rounds of {steps} steps per contestant")
    others = OtherLoad()
    times = interleaved(contestants, steps, rounds)
    return {"workload": workload, "title": title, "others": others.percent(),
            "rows": {name: summary(t) for name, t in times.items()}}


def print_table(result, steps_per_epoch):
    rows = result["rows"]
    base = rows["minifa"]["median"]
    print(f"{result['workload']}: {result['title']}, batch {BATCH}")
    head = f"  {'contestant':<14} {'ms/step':>8} {'p10-p90':>13} {'s/epoch':>8} {'/ minifa':>9}"
    print(head)
    for name, r in rows.items():
        span = f"{r['p10'] * 1e3:.2f}-{r['p90'] * 1e3:.2f}"
        print(f"  {name:<14} {r['median'] * 1e3:>8.3f} {span:>13} "
              f"{r['median'] * steps_per_epoch:>8.2f} {r['median'] / base:>8.2f}x")
    print_others(result["others"])


def print_others(others):
    if others is not None:
        warn = "  WARNING: the machine was not idle" if others > 5 else ""
        print(f"  other processes used {others:.0f}% of the CPUs meanwhile{warn}")


def print_summary(results, steps_per_epoch):
    print("side by side (s/epoch = median step x steps per epoch; tuned / minifa above 1: "
          "minifa faster)")
    head = f"  {'workload':<10} {'minifa':>8} {'tuned':>8} {'default':>8} " \
           f"{'tuned / minifa':>15} {'default / minifa':>17}"
    print(head)
    for r in results:
        rows = r["rows"]
        m = rows["minifa"]["median"]
        line = f"  {r['workload']:<10} {m * steps_per_epoch:>8.2f}"
        if "torch-tuned" in rows:
            t, d = rows["torch-tuned"]["median"], rows["torch-default"]["median"]
            line += f" {t * steps_per_epoch:>8.2f} {d * steps_per_epoch:>8.2f} " \
                    f"{t / m:>14.2f}x {d / m:>16.2f}x"
        print(line)


# --------------------------------------------------------------------------- beside


def background_command(args):
    cmd = [sys.executable, os.path.abspath(__file__), "--background"]
    return cmd + (["--data-dir", args.data_dir] if args.data_dir else [])


def background(args):
    """The second training: minifa.train on LeNet until stopped."""
    ds = load(args)
    model = build("lenet", seed=1)
    loader = minifa.DataLoader(ds.x_train, ds.y_train, batch_size=BATCH, scale=255, seed=1)
    print("ready", flush=True)
    minifa.train(model, minifa.Adam(model.parameters(), lr=LR), loader, epochs=1000)
    return 0


def beside(args, ds, steps=40, blocks=5):
    """minifa's LeNet step: quiet, beside a second minifa LeNet training, quiet again."""
    me = Minifa("lenet", ds)
    block(me, steps)  # warm-up
    log("beside: quiet")
    load = [OtherLoad()]
    quiet = sum((block(me, steps) for _ in range(blocks)), [])
    load[0] = load[0].percent()
    log("beside: starting the second training")
    other = subprocess.Popen(background_command(args), stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True)
    try:
        if other.stdout.readline().strip() != "ready":
            raise RuntimeError("the second training did not start")
        time.sleep(2.0)  # its first steps, and a look at the load on either side
        load.append(OtherLoad())
        busy = sum((block(me, steps) for _ in range(blocks)), [])
        load[1] = load[1].percent()
    finally:
        other.terminate()
        other.wait()
    time.sleep(1.0)
    log("beside: quiet again")
    load.append(OtherLoad())
    quiet += sum((block(me, steps) for _ in range(blocks)), [])
    load[2] = load[2].percent()
    q, b = statistics.median(quiet), statistics.median(busy)
    return {"quiet": q, "beside": b, "ratio": b / q, "others": load}


def print_beside(r):
    print(f"beside a second minifa LeNet training: LeNet step {r['beside'] * 1e3:.2f} ms "
          f"against {r['quiet'] * 1e3:.2f} ms quiet: {r['ratio']:.2f}x (a fair share of 2 "
          "cores: about 2x)")
    before, during, after = r["others"]
    print(f"  other processes used {before}% / {during}% / {after}% of the CPUs while quiet / "
          "beside (the second training included) / quiet again")
    if max(before or 0, after or 0) > 5:
        print("  WARNING: the machine was not idle while quiet")


# --------------------------------------------------------------------------- profile


def profile(workload, ds, steps=60):
    """Median seconds of each part of minifa's step on ``workload``."""
    me = Minifa(workload, ds)
    model, loss, optimizer = me.model, me.loss, me.optimizer
    layers = model.layers
    parts = {}

    def timed(key, fn, *a):
        start = time.perf_counter()
        out = fn(*a)
        parts.setdefault(key, []).append(time.perf_counter() - start)
        return out

    for i in range(steps + 10):
        if i == 10:
            parts.clear()  # warm-up done
        start = time.perf_counter()
        x, y = timed("batch", next, me.batches)
        with blas_scope(optimizer.xp) if blas_scope else contextlib.nullcontext():
            z = x
            for j, layer in enumerate(layers):
                z = timed(("forward", j), layer.forward, z)
            value = timed("loss forward", loss.forward, z, y)
            delta = e = timed("loss backward", loss.backward)
            first = model.first_trained
            for j in range(len(layers) - 1, first, -1):  # as Sequential.backward walks them
                layer = layers[j]
                delta = timed(("backward", j), layer.backward, delta, e, y) \
                    if layer.direct else timed(("backward", j), layer.backward, delta)
            timed(("backward", first), layers[first].grads, delta)
            timed("optimizer", optimizer.step)
            timed("argmax and sums", bookkeeping, me.total, value, z, y)
        parts.setdefault("step", []).append(time.perf_counter() - start)
    return {k: statistics.median(v) for k, v in parts.items()}, layers


def bookkeeping(total, value, z, y):
    """What train_step and minifa.train add to the equations: the sums and the argmax."""
    return total + value, (z.argmax(axis=1) == y).sum()


def print_profile(workload, medians, layers):
    step = medians["step"]
    print(f"profile of minifa's {workload} step: {step * 1e6:.0f} us (median of the whole)")
    print(f"  {'part':<44} {'forward us':>10} {'backward us':>11} {'share':>6}")
    for j, layer in enumerate(layers):
        f, b = medians.get(("forward", j), 0.0), medians.get(("backward", j), 0.0)
        print(f"  {j:>2} {layer!r:<41} {f * 1e6:>10.0f} {b * 1e6:>11.0f} "
              f"{(f + b) / step:>6.1%}")
    for name in ("loss forward", "loss backward", "optimizer", "argmax and sums", "batch"):
        print(f"  {name:<44} {medians[name] * 1e6:>22.0f} {medians[name] / step:>6.1%}")


# --------------------------------------------------------------------------- main


def load(args):
    return minifa.load_mnist("mnist", data_dir=args.data_dir, download=False, scaled=False)


def fused_note():
    """Whether minifa's fused CPU loops run here (Numba installed, minifa[fast])."""
    if not fused_kernels():
        return "no Numba: the NumPy passes"
    return f"numba {minifa.numba_kernels.version()}: fused CPU loops"


def threads_note():
    try:
        import threadpoolctl
    except ImportError:  # a bare GPU machine may lack it; minifa needs it only on NumPy
        return "BLAS: unknown (threadpoolctl is not installed)"
    # the kernels the BLAS runs set the speed of every product (and their last bits);
    # OpenBLAS picks them by CPU unless $OPENBLAS_CORETYPE names them
    chosen = os.environ.get("OPENBLAS_CORETYPE")
    blas = [f"{i['internal_api']} {i.get('version') or ''} ({i.get('architecture') or '?'} "
            f"kernels{', OPENBLAS_CORETYPE=' + chosen if chosen else ''}), "
            f"{i['num_threads']} threads"
            for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]
    policy = "minifa.threads (auto unless MINIFA_THREADS is set)" if blas_scope else \
        "the BLAS's own (this minifa does not choose)"
    return f"BLAS: {', '.join(blas) or 'none found'}; minifa's threads: {policy}"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default=None,
                   help="folder with the four MNIST files (default: $MINIFA_DATA, else "
                        "~/.cache/minifa/mnist); never downloads")
    p.add_argument("--only", nargs="+", choices=list(WORKLOADS) + ["beside"], metavar="PART",
                   help=f"run only these parts ({', '.join(WORKLOADS)}, beside)")
    p.add_argument("--rounds", type=int, default=42, help="timed rounds per table")
    p.add_argument("--batch", type=int, default=BATCH, help="batch size (default 64)")
    p.add_argument("--backend", choices=["numpy", "cupy"], default="numpy",
                   help="cupy: the tables put minifa on the GPU beside minifa on NumPy "
                        "(PyTorch, the profiles and beside are left out)")
    p.add_argument("--profile", action="store_true", help="also print minifa's step profiles")
    p.add_argument("--background", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.rounds < 1:
        p.error("--rounds must be at least 1")
    if args.batch < 1:
        p.error("--batch must be at least 1")
    return args


def main(argv=None):
    global BATCH
    args = parse_args(argv)
    BATCH = args.batch  # every contestant's batch
    if args.background:
        return background(args)
    try:
        minifa.backend.get_backend(args.backend)  # a missing CuPy or GPU: one line, first
        ds = load(args)
    except minifa.MinifaError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    parts = args.only or list(WORKLOADS) + ["beside"]
    on_gpu = args.backend != "numpy"
    if on_gpu:  # PyTorch on the CPU beside a GPU says nothing; threads are a CPU matter
        parts, args.profile = [p for p in parts if p != "beside"], False
    data = None if on_gpu else torch_data(ds)
    steps_per_epoch = len(ds.y_train) // BATCH
    versions = f"numpy {numpy.__version__}, minifa {minifa.__version__} " \
               f"({os.path.dirname(minifa.__file__)}), {fused_note()}"
    if data is not None:
        import torch
        versions += f", torch {torch.__version__} ({torch.get_num_threads()} threads)"
    print(f"data: {ds.source}, {steps_per_epoch} steps/epoch; {os.cpu_count()} CPUs, load "
          f"average {' '.join(f'{v:.2f}' for v in os.getloadavg())} at start")
    print(f"versions: {versions}")
    print(threads_note())
    if data is None:
        print("note: PyTorch is not installed: minifa alone")
    print()
    results = []
    for workload in WORKLOADS:
        if workload in parts:
            results.append(table(workload, ds, data, args.rounds, args.backend))
            print_table(results[-1], steps_per_epoch)
            print()
    if results:
        print_summary(results, steps_per_epoch)
        print()
    if "beside" in parts:
        r = beside(args, ds)
        print_beside(r)
        print()
    if args.profile:
        for workload in [w for w in WORKLOADS if w in parts] or list(WORKLOADS):
            print_profile(workload, *profile(workload, ds))
            print()
    print(f"load average at end {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
