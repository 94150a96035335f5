"""Seconds per training epoch of minifa against PyTorch (CPU) on the same FA network.

The reference run: a 784-128-64-10 MLP with ReLU, feedback alignment in every
dense layer (a fixed Glorot-uniform feedback matrix B per layer, never
trained), Adam lr 3e-4 (betas 0.9/0.999, eps 1e-8), batch 64, float32, full
MNIST train set (60,000 images: 937 steps per epoch, the last partial batch
dropped). Contestants:

  minifa          minifa on NumPy: ``DataLoader(uint8, scale=255)`` + ``train_step``
  numpy-loop      the same network as one hand-written NumPy loop, no engine
                  (numpy_loop.py): the yardstick for minifa's own overhead
  minifa-cupy     the same on CuPy, when a GPU and CuPy are there (else skipped)
  torch-default   PyTorch, FA as a custom ``autograd.Function`` (backward sends
                  ``delta @ B`` down; torch_fa.py), ``torch.optim.Adam`` with
                  defaults, a standard loop over a float32 tensor of the data
  torch-tuned     the same model and loop with the settings that make PyTorch
                  fastest here (printed with the results)

The torch models and the NumPy loop start from minifa's initial W, b and B
(copied in), and a parity check (a few identical steps on the same batches,
weights compared) runs before any timing: it prints "parity ok" or stops with
status 1.

Each contestant trains one untimed warm-up epoch, then the timed epochs are
interleaved (round r runs epoch r of every contestant, in an order rotated
each round) so drift in the machine's speed hits all alike. No evaluation
runs inside the timing. Peak memory is measured afterwards by running each
contestant alone in its own subprocess (imports, MNIST load, one epoch).

``--scaling`` instead prints the cost per sample of minifa (and torch-tuned,
for reference) at batch sizes 64-4096 (784-128-64-10) and hidden widths
128-2048 (784-H-H/2-10, batch 64), each timed on 20,480 samples (about a
third of an epoch, fastest of 3 runs) and extrapolated to seconds per epoch.

    python benchmarks/compare_torch.py --data-dir DIR
    python benchmarks/compare_torch.py --data-dir DIR --epochs 10 --only minifa torch-tuned
    python benchmarks/compare_torch.py --data-dir DIR --scaling   # cost vs batch and width
    python benchmarks/compare_torch.py --data-dir DIR --json      # one JSON object

Needs the four MNIST files in --data-dir (default: $MINIFA_DATA, else
~/.cache/minifa/mnist); it never downloads (``python examples/mnist.py --data
mnist`` does). Without PyTorch it times minifa alone and says so.

Caveat: run it on an otherwise idle machine. NumPy's BLAS and PyTorch each
start a thread per core; two such processes on the same cores slow each other
down far more than twice (PyTorch's OpenMP threads suffer most: one epoch of
torch-default took 12 s instead of 1 s beside a single-threaded job on a
2-core machine), and any other load skews the ratios. The share of the CPUs
that other processes used during the timing is printed with the results,
with a warning above 5%.
"""

import argparse
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import types

import numpy
from numpy_loop import NumpyLoopRun

import minifa

SIZES = [784, 128, 64, 10]
BATCH_SIZE = 64
LR = 3e-4
SEED = 0
NAMES = ("minifa", "numpy-loop", "minifa-cupy", "torch-default", "torch-tuned")
PARITY_STEPS = 10
PARITY_RTOL, PARITY_ATOL = 1e-3, 1e-6
SCALING_BATCHES = (64, 256, 1024, 4096)
SCALING_WIDTHS = (128, 512, 2048)
SCALING_SAMPLES = 20480  # 320 batches of 64 ... 5 batches of 4096
SCALING_REPEATS = 3


def log(*parts):
    """Progress goes to stderr: stdout holds only the report (or the JSON)."""
    print(*parts, file=sys.stderr, flush=True)


def proc_status_mb(field):
    """VmRSS (now) or VmHWM (peak) of this process from /proc, in MB; NaN elsewhere.

    Not ``getrusage``'s ru_maxrss: across fork and exec Linux carries the parent's
    peak into the child's, so a subprocess would report its parent's peak.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024  # kB
    except (OSError, ValueError, IndexError):
        pass
    return float("nan")


def fa_layers(model):
    """minifa's dense layers, input side first."""
    return [layer for layer in model.layers if hasattr(layer, "W")]


def initial_arrays(model):
    """Host copies of every dense layer's (W, b, B)."""
    to_host = model.backend.to_host
    return [tuple(numpy.array(to_host(a)) for a in (layer.W, layer.b, layer.B))
            for layer in fa_layers(model)]


# --------------------------------------------------------------------------- minifa


class MinifaRun:
    """minifa's own loop, as ``minifa.train`` runs it, on ``backend``."""

    def __init__(self, name, backend, x, y, sizes=SIZES, batch_size=BATCH_SIZE, seed=SEED,
                 shuffle=True):
        self.name = name
        self.backend = minifa.get_backend(backend)
        self.model = minifa.mlp(sizes, rule="fa", seed=seed, backend=self.backend)
        self.optimizer = minifa.Adam(self.model.parameters(), lr=LR)
        self.loss = minifa.SoftmaxCrossEntropy()
        self.loader = minifa.DataLoader(x, y, batch_size=batch_size, shuffle=shuffle,
                                        seed=minifa.streams(seed).shuffle,
                                        backend=self.backend, scale=255)
        self.steps_per_epoch = len(self.loader)
        self.batch_size = batch_size

    def run(self, steps=None):
        """Train ``steps`` batches of a fresh shuffle; returns (seconds, mean loss)."""
        steps = steps or self.steps_per_epoch
        model, loss, optimizer = self.model, self.loss, self.optimizer
        sync = self.backend.synchronize
        sync()
        start = time.perf_counter()
        total = correct = 0
        for step, (x, y) in enumerate(self.loader, start=1):
            value, hits = minifa.train_step(model, loss, optimizer, x, y)
            total = total + value  # summed on the device, as minifa.train does
            correct = correct + hits
            if step == steps:
                break
        sync()
        seconds = time.perf_counter() - start
        return seconds, float(total) / steps

    def weights(self):
        to_host = self.backend.to_host
        return [(numpy.array(to_host(layer.W)), numpy.array(to_host(layer.b)))
                for layer in fa_layers(self.model)]


def cupy_status():
    """(True, None) when minifa's CuPy backend works here, else (False, why)."""
    try:
        minifa.get_backend("cupy")
    except minifa.BackendError as exc:
        return False, str(exc)
    return True, None


# --------------------------------------------------------------------------- torch

_TORCH = {}


def torch_parts():
    """PyTorch and the FA model built on it (torch_fa.py), or None when PyTorch is
    not installed.

    Imported on first use, so a minifa-only process never loads it.
    """
    if "parts" in _TORCH:
        return _TORCH["parts"]
    try:
        import torch
        import torch.nn.functional as F
        import torch_fa
    except ImportError:
        _TORCH["parts"] = None
        return None
    _TORCH["parts"] = types.SimpleNamespace(
        torch=torch, F=F, MLP=torch_fa.MLP, default_threads=torch.get_num_threads())
    return _TORCH["parts"]


def adam_kind(torch):
    """The fastest Adam implementation this PyTorch offers on CPU tensors."""
    p = torch.nn.Parameter(torch.zeros(2))
    p.grad = torch.ones(2)
    try:
        torch.optim.Adam([p], lr=LR, fused=True).step()
        return "fused"
    except (RuntimeError, TypeError, ValueError):
        return "foreach"


def tuned_settings(threads):
    # Not used: torch.compile of the model (and of the optimizer step) ran 20-30% slower
    # per step than this on a 2-core CPU with torch 2.13, after 3-22 s of compiling.
    torch = torch_parts().torch
    kind = adam_kind(torch)
    return [
        f"torch.set_num_threads({threads}) (torch's own default here: "
        f"{torch_parts().default_threads})",
        "torch.set_flush_denormal(True), on only during torch-tuned's epochs (it sets the "
        "calling thread's FPU flags, which NumPy shares)",
        f"Adam(..., {kind}=True)",
        "zero_grad(set_to_none=True) (also torch's default since 2.0)",
        "data pre-converted once to a float32 tensor (torch-default indexes one too)",
        "shuffle split into a (steps, batch) index tensor; batches gathered with "
        "index_select into two preallocated buffers",
    ]


class TorchRun:
    """PyTorch on CPU: the standard loop (``tuned=False``) or the tuned one."""

    def __init__(self, name, x, y, tuned, threads, sizes=SIZES, batch_size=BATCH_SIZE,
                 seed=SEED, rule="fa"):
        parts = torch_parts()
        torch = parts.torch
        self.name, self.tuned, self.torch, self.F = name, tuned, torch, parts.F
        self.threads = threads if tuned else parts.default_threads
        # Same start as minifa: its seed's W, b and B, copied in.
        self.model = parts.MLP(initial_arrays(minifa.mlp(sizes, rule="fa", seed=seed)), rule)
        # The same float32 numbers minifa's DataLoader makes from the uint8 pixels.
        self.x = torch.from_numpy(numpy.divide(x, 255.0, dtype=numpy.float32))
        self.y = torch.from_numpy(numpy.asarray(y, dtype=numpy.int64))
        self.generator = torch.Generator().manual_seed(seed)
        self.batch_size = batch_size
        self.steps_per_epoch = self.x.shape[0] // batch_size
        if tuned:
            kind = adam_kind(torch)
            self.optimizer = torch.optim.Adam(self.model.parameters(), lr=LR, **{kind: True})
            self.xb = torch.empty((batch_size, self.x.shape[1]), dtype=torch.float32)
            self.yb = torch.empty((batch_size,), dtype=torch.int64)
        else:
            self.optimizer = torch.optim.Adam(self.model.parameters(), lr=LR)

    def run(self, steps=None, order=None):
        """Train ``steps`` batches of a fresh shuffle (or of ``order``, an index
        tensor); returns (seconds, mean loss)."""
        torch = self.torch
        steps = steps or self.steps_per_epoch
        torch.set_num_threads(self.threads)
        if self.tuned:
            torch.set_flush_denormal(True)
        try:
            loop = self._tuned_loop if self.tuned else self._default_loop
            start = time.perf_counter()
            total = loop(steps, order)
            seconds = time.perf_counter() - start
        finally:
            if self.tuned:
                torch.set_flush_denormal(False)
        return seconds, float(total) / steps

    def _default_loop(self, steps, order):
        torch, F, model, optimizer = self.torch, self.F, self.model, self.optimizer
        x, y, bs = self.x, self.y, self.batch_size
        perm = torch.randperm(x.shape[0], generator=self.generator) if order is None else order
        total = torch.zeros(())
        for i in range(steps):
            idx = perm[i * bs:(i + 1) * bs]
            xb, yb = x[idx], y[idx]
            loss = F.cross_entropy(model(xb), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.detach()
        return total

    def _tuned_loop(self, steps, order):
        torch, F, model, optimizer = self.torch, self.F, self.model, self.optimizer
        x, y, xb, yb, bs = self.x, self.y, self.xb, self.yb, self.batch_size
        perm = torch.randperm(x.shape[0], generator=self.generator) if order is None else order
        total = torch.zeros(())
        for idx in perm[:steps * bs].view(steps, bs):
            torch.index_select(x, 0, idx, out=xb)
            torch.index_select(y, 0, idx, out=yb)
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            total += loss.detach()
        return total

    def weights(self):
        return [(d.W.detach().numpy().copy(), d.b.detach().numpy().copy())
                for d in self.model.dense]


# --------------------------------------------------------------------------- parity


class ParityError(Exception):
    pass


def max_diff(a, b):
    return max(float(numpy.max(numpy.abs(p - q))) for wa, wb in zip(a, b)
               for p, q in zip(wa, wb))


def agree(a, b):
    return all(numpy.allclose(p, q, rtol=PARITY_RTOL, atol=PARITY_ATOL)
               for wa, wb in zip(a, b) for p, q in zip(wa, wb))


def parity_check(x, y, threads, with_torch=True):
    """minifa, the NumPy loop and both torch loops, from the same start, take
    PARITY_STEPS identical batches; their weights must agree. A torch BP model
    from the same start must not: that shows the check can tell FA from BP."""
    n = PARITY_STEPS * BATCH_SIZE
    x, y = x[:n], y[:n]
    ref = MinifaRun("minifa", "numpy", x, y, shuffle=False)
    start = ref.weights()
    ref.run(PARITY_STEPS)
    want = ref.weights()
    moved = max_diff(want, start)
    result = {"steps": PARITY_STEPS, "rtol": PARITY_RTOL, "atol": PARITY_ATOL,
              "largest_update": moved, "max_abs_diff": {}}
    loop = NumpyLoopRun("numpy-loop", x, y, SIZES, BATCH_SIZE, LR, SEED, shuffle=False)
    if max_diff(loop.weights(), start) != 0.0:
        raise ParityError("numpy-loop did not start from minifa's weights")
    loop.run(PARITY_STEPS)
    result["max_abs_diff"]["numpy-loop"] = max_diff(loop.weights(), want)
    if not agree(loop.weights(), want):
        raise ParityError(f"numpy-loop and minifa disagree after {PARITY_STEPS} steps: max "
                          f"|dW| {result['max_abs_diff']['numpy-loop']:.3g}")
    if not with_torch:
        result["ok"] = True
        return result
    torch = torch_parts().torch
    order = torch.arange(n)
    for name, tuned, rule in [("torch-default", False, "fa"), ("torch-tuned", True, "fa"),
                              ("torch-bp-control", False, "bp")]:
        run = TorchRun(name, x, y, tuned, threads, rule=rule)
        if max_diff(run.weights(), start) != 0.0:
            raise ParityError(f"{name} did not start from minifa's weights")
        run.run(PARITY_STEPS, order=order)
        got = run.weights()
        result["max_abs_diff"][name] = max_diff(got, want)
        if rule == "fa" and not agree(got, want):
            raise ParityError(
                f"{name} and minifa disagree after {PARITY_STEPS} steps: max |dW| "
                f"{max_diff(got, want):.3g} (largest update {moved:.3g})")
        if rule == "bp" and agree(got, want):
            raise ParityError("a BP torch model agrees with minifa's FA one: the check is "
                              "not sensitive enough to prove anything")
    result["ok"] = True
    return result


# --------------------------------------------------------------------------- contestants


def make(name, ds, threads, sizes=SIZES, batch_size=BATCH_SIZE):
    if name == "minifa":
        return MinifaRun(name, "numpy", ds.x_train, ds.y_train, sizes, batch_size)
    if name == "minifa-cupy":
        return MinifaRun(name, "cupy", ds.x_train, ds.y_train, sizes, batch_size)
    if name == "numpy-loop":
        return NumpyLoopRun(name, ds.x_train, ds.y_train, sizes, batch_size, LR, SEED)
    return TorchRun(name, ds.x_train, ds.y_train, name == "torch-tuned", threads, sizes,
                    batch_size)


def available(names):
    """The runnable subset of ``names`` and a note for each one skipped."""
    keep, notes = [], []
    has_torch = torch_parts() is not None
    for name in names:
        if name == "minifa-cupy":
            ok, why = cupy_status()
            if not ok:
                notes.append(f"minifa-cupy skipped ({why.split(':')[0]})")
                continue
        if name.startswith("torch") and not has_torch:
            notes.append(f"{name} skipped: PyTorch is not installed")
            continue
        keep.append(name)
    return keep, notes


def time_epochs(runs, epochs):
    """One warm-up epoch each, then ``epochs`` interleaved rounds, order rotated."""
    warmup = {}
    for run in runs:
        log(f"warm-up epoch: {run.name}")
        gc.collect()
        warmup[run.name] = run.run()[0]
    seconds = {run.name: [] for run in runs}
    losses = {}
    for r in range(epochs):
        others = OtherLoad()
        order = runs[r % len(runs):] + runs[:r % len(runs)]
        for run in order:
            gc.collect()
            s, loss = run.run()
            seconds[run.name].append(s)
            losses[run.name] = loss
        log(f"round {r + 1}/{epochs}: " +
            ", ".join(f"{run.name} {seconds[run.name][-1]:.3f} s" for run in runs) +
            f" (other processes: {others.percent()}% of the CPUs)")
    return warmup, seconds, losses


def probe_memory(name, args):
    """Peak RSS of ``name`` alone: a subprocess that loads, builds and trains one epoch."""
    cmd = [sys.executable, os.path.abspath(__file__), "--probe", name,
           "--threads", str(args.threads)]
    if args.data_dir is not None:
        cmd += ["--data-dir", args.data_dir]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        return {"error": tail}
    return json.loads(done.stdout)


def probe(args):
    """The subprocess side of ``probe_memory``: one JSON line on stdout."""
    ds = minifa.load_mnist("mnist", data_dir=args.data_dir, download=False, scaled=False)
    run = make(args.probe, ds, args.threads)
    ready = proc_status_mb("VmRSS")
    run.run()
    print(json.dumps({"rss_ready_mb": ready, "peak_rss_mb": proc_status_mb("VmHWM")}))
    return 0


# --------------------------------------------------------------------------- reports


def versions():
    out = {"python": platform.python_version(), "numpy": numpy.__version__,
           "minifa": minifa.__version__}
    parts = torch_parts()
    if parts is not None:
        out["torch"] = parts.torch.__version__
    return out


class OtherLoad:
    """CPU time that other processes used while this one ran, in percent of all
    CPUs: /proc/stat's busy time (steal included) minus this process's own."""

    def __init__(self):
        self.start = self.sample()

    @staticmethod
    def sample():
        try:
            with open("/proc/stat") as f:
                v = [int(x) for x in f.readline().split()[1:9]]
            busy = (sum(v) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")  # less idle, iowait
        except (OSError, ValueError, IndexError):
            return None
        own = os.times()
        return time.perf_counter(), busy, own.user + own.system

    def percent(self):
        end = self.sample()
        if self.start is None or end is None:
            return None
        wall = end[0] - self.start[0]
        others = (end[1] - self.start[1]) - (end[2] - self.start[2])
        return round(max(0.0, 100.0 * others / (wall * (os.cpu_count() or 1))), 1)


def machine():
    return {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(),
            "load_average": [round(v, 2) for v in os.getloadavg()]}


def main_table(args, ds, names, notes):
    runs = [make(name, ds, args.threads) for name in names]
    steps = runs[0].steps_per_epoch
    others = OtherLoad()
    warmup, seconds, losses = time_epochs(runs, args.epochs)
    others = others.percent()
    load_end = [round(v, 2) for v in os.getloadavg()]
    memory = {}
    if not args.no_memory:
        for name in names:
            log(f"memory probe (own process): {name}")
            memory[name] = probe_memory(name, args)
    base = statistics.median(seconds["minifa"]) if "minifa" in seconds else None
    rows = []
    for name in names:
        s = seconds[name]
        med = statistics.median(s)
        rows.append({
            "name": name,
            "epochs_s": s,
            "warmup_s": warmup[name],
            "median_epoch_s": med,
            "min_epoch_s": min(s),
            "max_epoch_s": max(s),
            "us_per_batch": med / steps * 1e6,
            "ratio_vs_minifa": med / base if base else None,
            "last_epoch_loss": losses[name],
            "memory": memory.get(name),
        })
    return {"rows": rows, "steps_per_epoch": steps, "load_average_end": load_end,
            "others_cpu_pct": others}


def print_main(report):
    table = report["table"]
    print(f"minifa vs PyTorch: {'-'.join(map(str, SIZES))} MLP, ReLU, FA in every layer, "
          f"Adam lr {LR:g}, batch {BATCH_SIZE}, float32")
    print(f"data: {report['data']}, {table['steps_per_epoch']} steps/epoch; "
          f"{report['epochs']} timed epoch{'s' if report['epochs'] > 1 else ''} each after "
          "1 untimed warm-up, interleaved")
    print_machine(report, table)
    print("versions: " + ", ".join(f"{k} {v}" for k, v in report["versions"].items()))
    print_parity(report)
    if report.get("torch_tuned_settings"):
        print("torch-tuned settings:")
        for line in report["torch_tuned_settings"]:
            print(f"  - {line}")
    print_notes(report)
    print()
    head = (f"{'contestant':<14} {'s/epoch':>8} {'min-max':>15} {'us/batch':>9} "
            f"{'vs minifa':>9} {'loss':>7} {'RSS MB':>7} {'peak MB':>8}")
    print(head)
    print("-" * len(head))
    for row in table["rows"]:
        ratio = f"{row['ratio_vs_minifa']:.2f}x" if row["ratio_vs_minifa"] else "-"
        mem = row["memory"] or {}
        ready = f"{mem['rss_ready_mb']:.0f}" if "rss_ready_mb" in mem else "-"
        peak = f"{mem['peak_rss_mb']:.0f}" if "peak_rss_mb" in mem else "-"
        span = f"{row['min_epoch_s']:.3f}-{row['max_epoch_s']:.3f}"
        print(f"{row['name']:<14} {row['median_epoch_s']:>8.3f} {span:>15} "
              f"{row['us_per_batch']:>9.0f} {ratio:>9} {row['last_epoch_loss']:>7.4f} "
              f"{ready:>7} {peak:>8}")
    print()
    print("s/epoch: median over the timed epochs; vs minifa: median / minifa (numpy)'s median "
          "(below 1 is faster); loss: mean training loss of the last timed epoch.")
    print("minifa's step also counts correct predictions (an argmax per batch), as "
          "minifa.train does; the torch loops do not.")
    if any(row["name"].startswith("torch") for row in table["rows"]):
        print("the torch loops index the train set as a float32 tensor (188 MB); minifa keeps "
              "the uint8 pixels (47 MB) and scales each batch.")
    if any(row["memory"] for row in table["rows"]):
        print("RSS MB / peak MB: each contestant alone in its own process (Python, its "
              "imports, MNIST loaded, model built / peak after one epoch); host memory only.")
        for row in table["rows"]:
            if row["memory"] and "error" in row["memory"]:
                print(f"  memory probe of {row['name']} failed: {row['memory']['error']}")


def print_machine(report, table):
    m = report["machine"]
    print(f"machine: {m['cpus']} CPUs; load average "
          f"{' '.join(map(str, m['load_average']))} at start, "
          f"{' '.join(map(str, table['load_average_end']))} at end")
    others = table["others_cpu_pct"]
    if others is not None:
        print(f"other processes used {others:.0f}% of the CPUs while this one was timing")
        if others > 5:
            print("warning: the machine was not idle: these times are likely skewed; "
                  "rerun when it is")


def print_notes(report):
    for note in report["notes"]:
        print(f"note: {note}")


def print_parity(report):
    parity = report["parity"]
    diffs = parity["max_abs_diff"]
    print(f"parity ok: after {parity['steps']} identical steps from the same W, b, B, "
          f"max |w_loop - w_minifa| = {diffs['numpy-loop']:.2g} (numpy-loop)", end="")
    if "torch-default" not in diffs:
        print("; torch skipped (PyTorch is not installed)")
        return
    print(f", max |w_torch - w_minifa| = {diffs['torch-default']:.2g} (default), "
          f"{diffs['torch-tuned']:.2g} (tuned), within rtol {parity['rtol']:g} + atol "
          f"{parity['atol']:g}; largest update {parity['largest_update']:.2g}; a BP control "
          f"differs by {diffs['torch-bp-control']:.2g}")


def scaling_table(args, ds, names):
    configs = [(bs, 128) for bs in SCALING_BATCHES] + \
              [(BATCH_SIZE, h) for h in SCALING_WIDTHS if h != 128]
    names = [n for n in names if n in ("minifa", "minifa-cupy", "torch-tuned")]
    rows = []
    others = OtherLoad()
    for bs, width in configs:
        cell = OtherLoad()
        sizes = [784, width, width // 2, 10]
        runs = [make(name, ds, args.threads, sizes, bs) for name in names]
        steps = SCALING_SAMPLES // bs
        for run in runs:
            run.run(max(2, steps // 4))  # warm-up, untimed
        seconds = {run.name: [] for run in runs}
        for r in range(SCALING_REPEATS):
            for run in runs[r % len(runs):] + runs[:r % len(runs)]:
                gc.collect()
                seconds[run.name].append(run.run(steps)[0])
        epoch_samples = ds.x_train.shape[0] // bs * bs
        for run in runs:
            us = min(seconds[run.name]) / (steps * bs) * 1e6
            rows.append({"name": run.name, "batch_size": bs, "sizes": sizes, "steps": steps,
                         "runs_s": seconds[run.name], "us_per_sample": us,
                         "epoch_s": us * epoch_samples / 1e6})
        log(f"batch {bs}, width {width}: " + ", ".join(
            f"{r['name']} {r['us_per_sample']:.2f} us/sample" for r in rows[-len(runs):]) +
            f" (other processes: {cell.percent()}% of the CPUs)")
    return {"rows": rows, "samples": SCALING_SAMPLES, "repeats": SCALING_REPEATS,
            "load_average_end": [round(v, 2) for v in os.getloadavg()],
            "others_cpu_pct": others.percent()}


def print_scaling(report):
    table = report["scaling"]
    print(f"scaling: cost per sample, FA MLP 784-H-H/2-10, Adam lr {LR:g}, float32")
    print(f"each cell: the fastest of {table['repeats']} interleaved runs of "
          f"{table['samples']} samples "
          f"({table['samples'] / report['train_size']:.0%} of an epoch) after an untimed "
          f"warm-up; s/epoch extrapolates to "
          f"{report['train_size']} samples")
    print_machine(report, table)
    print_parity(report)
    print_notes(report)
    names = list(dict.fromkeys(r["name"] for r in table["rows"]))
    print()
    head = f"{'batch':>6} {'H':>5} {'steps':>6}" + "".join(
        f" {n + ' us/sample':>20} {'s/epoch':>8}" for n in names)
    if len(names) == 2:
        head += f" {'torch/minifa':>12}"
    print(head)
    print("-" * len(head))
    cells = {(r["batch_size"], r["sizes"][1], r["name"]): r for r in table["rows"]}
    for bs, width in dict.fromkeys((r["batch_size"], r["sizes"][1]) for r in table["rows"]):
        line = f"{bs:>6} {width:>5} {cells[(bs, width, names[0])]['steps']:>6}"
        for n in names:
            c = cells[(bs, width, n)]
            line += f" {c['us_per_sample']:>20.2f} {c['epoch_s']:>8.2f}"
        if len(names) == 2:
            a, b = (cells[(bs, width, n)]["us_per_sample"] for n in names)
            line += f" {b / a:>11.2f}x"
        print(line)


# --------------------------------------------------------------------------- main


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default=None,
                   help="folder with the four MNIST files (default: $MINIFA_DATA, else "
                        "~/.cache/minifa/mnist)")
    p.add_argument("--epochs", type=int, default=5, help="timed epochs per contestant")
    p.add_argument("--only", nargs="+", choices=NAMES, metavar="NAME",
                   help=f"run only these contestants ({', '.join(NAMES)})")
    p.add_argument("--threads", type=int, default=2, help="torch-tuned's torch threads")
    p.add_argument("--scaling", action="store_true",
                   help="instead: cost per sample against batch size and hidden width")
    p.add_argument("--no-memory", action="store_true",
                   help="skip the per-contestant memory subprocesses")
    p.add_argument("--json", action="store_true", help="print one JSON object instead")
    p.add_argument("--probe", choices=NAMES, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.epochs < 1:
        p.error("--epochs must be at least 1")
    if args.threads < 1:
        p.error("--threads must be at least 1")
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.probe:
        return probe(args)
    report = {"machine": machine()}
    try:
        ds = minifa.load_mnist("mnist", data_dir=args.data_dir, download=False, scaled=False)
    except minifa.MinifaError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    wanted = list(args.only or (n for n in NAMES if not (args.scaling and n == "minifa-cupy")))
    names, notes = available(wanted)
    if not names:
        print("error: nothing to run: " + "; ".join(notes), file=sys.stderr)
        return 2
    report.update(data=ds.source, train_size=int(ds.x_train.shape[0]), epochs=args.epochs,
                  versions=versions(), notes=notes, parity=None)
    log("parity check")
    try:
        report["parity"] = parity_check(ds.x_train, ds.y_train, args.threads,
                                        with_torch=torch_parts() is not None)
    except ParityError as exc:
        print(f"parity FAILED: {exc}", file=sys.stderr)
        return 1
    if "torch-tuned" in names:
        report["torch_tuned_settings"] = tuned_settings(args.threads)
    if args.scaling:
        report["scaling"] = scaling_table(args, ds, names)
    else:
        report["table"] = main_table(args, ds, names, notes)
    if args.json:
        print(json.dumps(report))
    elif args.scaling:
        print_scaling(report)
    else:
        print_main(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
