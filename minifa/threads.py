"""BLAS threads: how many each training step and evaluation runs, chosen from the load.

NumPy's matrix products run on its BLAS (OpenBLAS), which starts a thread per
core and keeps them spinning between products. Alone on a machine that is the
fastest choice for the large products (and OpenBLAS itself runs the small ones
on one thread). Beside another busy process the spinning threads fight it for
the same cores: two trainings on 2 cores, each with 2 BLAS threads, slowed
each other 6-17x, while at 1 thread each kept close to its fair share.

So ``train_step`` and ``evaluate`` run inside ``scope``, which sets the BLAS
threads for that call alone and restores them after it (through threadpoolctl),
so the caller's own setting is never changed:

    threads = N                       N given: threads=N, --threads N, MINIFA_THREADS=N
    threads = min(T, round(free))     "auto", the default, when other processes keep some
                                      of the cores busy: T = the BLAS's own setting,
                                      free = the cores this process may run on less
                                      what other processes used of them over the last
                                      LOAD_WINDOW seconds (Linux's /proc/stat)
    threads = T                       "auto" with every core free, or the load unknown

On a quiet machine auto leaves the BLAS as it is, so a run gives the numbers it
gave before minifa chose threads. The size of a product is left to OpenBLAS,
which already runs the small ones on one thread: measured on a quiet 2-core
machine, every product above its threshold in the reference MLP, LeNet-5 and
784-2048-1024-10 steps took 0.51-0.75 of its one-thread time on two threads,
but LeNet's first dense forward (0.91) and conv 1's weight gradient (1.01), so
a size rule of minifa's would gain nothing there. The load is what matters:
beside a second LeNet training, a LeNet step took 2.5-3.5x its quiet time with
both processes at 2 threads, and about 1.1x with both choosing by the load
(benchmarks/speed.py).

Another thread count can change the last bits of a product (OpenBLAS picks
another kernel for some shapes on one thread, e.g. (64, 784) @ (784, 128)):
the same seed with the same thread setting gives the same run, and on a busy
machine auto may move the last digits; give ``--threads N`` for runs that must
repeat to the bit under any load (on full MNIST the reference FA run reads
0.8850 after epoch 1 at 2 threads, 0.8843 at 1).
"""

import os
import time

import numpy

from .errors import InputError

ENV_VAR = "MINIFA_THREADS"
LOAD_WINDOW = 0.25  # seconds of /proc/stat between two looks at the machine's load
FIRST_WINDOW = 0.1  # the first look, waited for once per process (10 ticks of /proc/stat)
AUTO = "auto"


def setting(threads=None):
    """``threads`` checked: a positive int, or "auto"; None reads $MINIFA_THREADS,
    else "auto". InputError for anything else."""
    where = "threads"
    if threads is None:
        threads, where = os.environ.get(ENV_VAR) or AUTO, f"${ENV_VAR}"
    if isinstance(threads, str):
        text = threads.strip().lower()
        if text == AUTO:
            return AUTO
        try:
            threads = int(text)
        except ValueError:
            raise InputError(f"{where} must be a positive integer or 'auto', got "
                             f"{threads!r}") from None
    if isinstance(threads, bool) or not isinstance(threads, (int, numpy.integer)) \
            or threads < 1:
        raise InputError(f"{where} must be a positive integer or 'auto', got {threads!r}")
    return int(threads)


class scope:  # noqa: N801  (used as a function: ``with scope(xp, threads):``)
    """Run the block with the BLAS threads ``setting(threads)`` gives (see the module's
    docstring), restored afterwards. Nothing is read or set where ``xp`` is not NumPy
    (a GPU), or where auto finds every core free: a class rather than a generator,
    as it runs every step, and on that path costs about a microsecond."""

    __slots__ = ("n", "auto", "changed")

    def __init__(self, xp, threads=None):
        n = threads if threads == AUTO or type(threads) is int and threads > 0 \
            else setting(threads)
        self.auto, self.changed = n == AUTO, None
        if xp is not numpy:
            n = None
        elif self.auto:
            n = LOAD.limit()  # None on a quiet machine
        self.n = n

    def __enter__(self):
        n = self.n
        if n is None:
            return self
        self.changed, most = [], 0
        for lib in blas():
            before = lib.get_num_threads()
            if before is None:  # a BLAS threadpoolctl cannot read: leave it alone
                continue
            after = min(before, n) if self.auto else n
            if self.auto and after < before:
                LOWERED[0] += 1  # counted, so that a caller can say the digits may move
            if after != before:
                lib.set_num_threads(after)
                self.changed.append((lib, before))
            most = max(most, after)
        _ACTIVE.append(most or n)
        return self

    def __exit__(self, *exc):
        if self.changed is None:
            return False
        _ACTIVE.pop()
        for lib, before in self.changed:
            lib.set_num_threads(before)
        if self.changed:
            release([lib for lib, _ in self.changed])
        return False


def lowered():
    """How many scopes so far ran on fewer BLAS threads than the BLAS's own setting
    because auto found the machine busy (a run's last digits can then differ from
    a quiet run's)."""
    return LOWERED[0]


LOWERED = [0]


def current():
    """The BLAS threads of the innermost ``scope`` running now, or None outside one
    (minifa.fast shares Adam's slices among as many threads)."""
    return _ACTIVE[-1] if _ACTIVE else None


_ACTIVE = []


def blas():
    """threadpoolctl's controllers of the BLAS libraries loaded (NumPy's among them),
    found once: looking them up costs milliseconds."""
    if _BLAS is None:
        from threadpoolctl import ThreadpoolController

        globals()["_BLAS"] = tuple(ThreadpoolController().select(user_api="blas")
                                   .lib_controllers)
    return _BLAS


_BLAS = None


def release(libs):
    """Let another Python thread set OpenBLAS's threads again: threadpoolctl lets one
    thread at a time set them (where it tracks that), as its own limiters do."""
    for lib in libs:
        clear = getattr(type(lib), "clear_controlling_thread", None)
        if clear is not None:
            clear()


def cpus():
    """The CPUs this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


class MachineLoad:
    """What other processes leave free of this process's CPUs, looked at every
    LOAD_WINDOW seconds: their busy time is the CPUs' busy time in /proc/stat
    (steal included) less this process's own (every thread of it, BLAS's too)."""

    def __init__(self):
        self.reset()

    def reset(self):
        self.last, self.free, self.cores = None, None, cpus()

    def limit(self):
        """The free cores when other processes keep some of this process's busy,
        else None (every core free, or the load not known)."""
        free = self.free_cores()
        return free if free is not None and free < len(self.cores) else None

    def free_cores(self):
        """Whole cores free for this process's threads (at least 1), or None where
        /proc/stat cannot be read. The first call looks over FIRST_WINDOW seconds
        at once, so that a process started on a busy machine does not run its first
        steps at full threads."""
        now = time.perf_counter()
        if self.last is not None and now - self.last[0] < LOAD_WINDOW:
            return self.free
        if self.last is None:
            self.last = self.sample(now)
            time.sleep(FIRST_WINDOW)
            now = time.perf_counter()
        sample = self.sample(now)
        if sample is None:
            return self.free
        if self.last is not None:
            wall = sample[0] - self.last[0]
            others = (sample[1] - self.last[1]) - (sample[2] - self.last[2])
            self.free = max(1, round(len(self.cores) - max(0.0, others) / wall))
        self.last = sample
        return self.free

    def sample(self, now):
        """(now, busy seconds of our CPUs, this process's CPU seconds), or None."""
        self.cores = cpus()
        wanted = {f"cpu{i}" for i in self.cores}
        try:
            with open("/proc/stat") as f:
                ticks = 0
                for line in f:
                    if not line.startswith("cpu"):
                        break
                    name, *v = line.split()
                    if name in wanted:
                        v = [int(x) for x in v[:8]]
                        ticks += sum(v) - v[3] - v[4]  # all but idle and iowait
        except (OSError, ValueError, IndexError):
            return None
        own = os.times()
        return now, ticks / CLOCK_TICKS, own.user + own.system


CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
LOAD = MachineLoad()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=LOAD.reset)  # a child's own CPU time starts at 0
