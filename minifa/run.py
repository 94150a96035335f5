"""What surrounds the training loop: where it starts (afresh or from a
checkpoint), Ctrl-C, the divergence guard, checkpoint saves, the epoch's
clock and its progress line. ``train`` (training.py) reads as its loop and calls a ``Run`` at the
few points where this bookkeeping happens.
"""

import math
import os
import signal
import threading
import time
from contextlib import contextmanager

import numpy
import pandas

from . import checkpoint as ckpt
from .backend import get_array_module
from .data.loader import check_data
from .errors import InputError, TrainingStopped
from .evaluation import evaluate_checked
from .progress import Progress
from .threads import setting

COLUMNS = ["epoch", "loss_train", "loss_test", "acc_train", "acc_test", "seconds"]
INTERRUPTED = "minifa-interrupted.npz"  # where Ctrl-C saves when no checkpoint was named


class Run:
    """One call of ``train``: its checks, its starting point, the rows so far,
    and the saves, guard checks and timing between steps and epochs. The
    arguments are ``train``'s; everything is checked here, before any step.
    """

    def __init__(self, model, optimizer, loader, epochs, loss, test, diagnostics, checkpoint,
                 resume, checkpoint_every, threads=None):
        self.last_epoch = int(epochs)
        if self.last_epoch < 1:
            raise InputError(f"epochs must be at least 1, got {self.last_epoch}")
        check_data(loader.x, loader.y, model.n_in, model.n_out, "training data",
                   integer_x=loader.scale is not None)
        if test is not None:
            check_data(test[0], test[1], model.n_in, model.n_out, "test data",
                       dtype=getattr(model, "dtype", None))  # else found after an epoch
        if checkpoint:
            ckpt.check_savable(model)
        self.threads = setting(threads)  # BLAS threads of each step and evaluation
        self.model, self.optimizer, self.loader, self.loss = model, optimizer, loader, loss
        self.test, self.diagnostics = test, diagnostics
        self.checkpoint, self.checkpoint_every = checkpoint, checkpoint_every
        self.n_batches = len(loader)
        self.progress = Progress(self.last_epoch, self.n_batches)  # silent off a terminal
        self.rows, self.first_epoch, self.first_step, self.sums, self.carried = [], 1, 0, None, 0.0
        if resume and checkpoint and os.path.exists(checkpoint):
            self.resume()
        self.guard = FiniteGuard(get_array_module(optimizer.w))
        self.saving = 0.0  # seconds spent saving, left out of the epochs' time
        if diagnostics is not None and self.first_epoch == 1 and self.first_step == 0:
            diagnostics.record(model, 1, 0)  # the starting point: random feedback, ~90 degrees

    def resume(self):
        """Continue from the checkpoint: the state, the rows and where it stopped."""
        meta = ckpt.load(self.checkpoint, self.model, self.optimizer, self.loader)
        self.rows, self.first_epoch, self.first_step = meta["history"], meta["epoch"], meta["step"]
        self.sums, self.carried = meta.get("sums"), meta.get("seconds", 0.0)
        if self.first_step == self.n_batches:
            self.first_epoch, self.first_step = self.first_epoch + 1, 0
        if self.diagnostics is not None and not self.diagnostics.records:
            self.diagnostics.records = list(meta.get("diagnostics") or [])

    @contextmanager
    def guarded(self):
        """Ctrl-C becomes a flag read between steps; overflow is the guard's to
        report, as one error (NumPy's RuntimeWarnings would only repeat it, in
        the middle of the epoch table); a stop carries the history so far."""
        with ctrl_c_flag() as self.ctrl_c, numpy.errstate(over="ignore", invalid="ignore"):
            try:
                yield
            except TrainingStopped as exc:
                exc.history = self.history()  # the finished epochs, for the caller to keep
                raise
            finally:
                self.progress.clear()  # before any message about the stop

    def epochs(self):
        return range(self.first_epoch, self.last_epoch + 1)

    def start_epoch(self, epoch):
        """Start the epoch's clock; returns its running (loss, correct) sums."""
        self.start_step = self.first_step if epoch == self.first_epoch else 0
        self.loader.backend.synchronize()
        self.clock = (self.carried if self.start_step else 0.0,  # an interrupted part's
                      time.perf_counter(), self.diagnostics_seconds() + self.saving)
        self.progress.start(epoch, self.start_step)
        return self.sums if self.start_step else (0, 0)

    def batches(self):
        """``(step, (x, y))`` for the epoch's steps, counted from 1 (a resumed
        epoch starts after its last saved step)."""
        return enumerate(self.loader.batches(self.start_step), start=self.start_step + 1)

    def after_step(self, epoch, step, value, sums):
        """Between two steps: the guard's note of the loss, diagnostics if asked,
        a save every ``checkpoint_every`` steps, Ctrl-C and the progress line."""
        self.progress.update(step)
        self.guard.update(value, step)
        d = self.diagnostics
        if d is not None and d.every and step % d.every == 0:
            d.record(self.model, epoch, step)  # sync point, asked for
        if step == self.n_batches:  # the epoch's end saves in end_epoch, Ctrl-C or not
            return
        if self.ctrl_c["stop"] or (self.checkpoint_every and step % self.checkpoint_every == 0):
            self.guard.check(self.optimizer, epoch, self.checkpoint)  # sync point
            seconds = self.elapsed()
            self.save(epoch, step, sums, seconds)
            if self.ctrl_c["stop"]:
                raise self.stopped(epoch, step, sums, seconds)

    def end_epoch(self, epoch, total_loss, correct):
        """The epoch's row (the sync point of the epoch), evaluated, checked and saved."""
        seconds = self.elapsed()
        self.progress.clear()  # the row, printed by the caller, takes its place
        loader = self.loader
        n_seen = self.n_batches * loader.batch_size if loader.drop_last else loader.x.shape[0]
        row = {
            "epoch": epoch,
            "loss_train": float(total_loss) / self.n_batches,  # sync point
            "acc_train": float(correct) / n_seen,
            "loss_test": float("nan"),
            "acc_test": float("nan"),
            "seconds": seconds,
        }
        read = [("training loss", row["loss_train"])]
        if self.test is not None:
            result = evaluate_checked(self.model, self.test[0], self.test[1], self.loss, 1000,
                                      self.threads)
            row["loss_test"], row["acc_test"] = result["loss"], result["acc"]
            read.append(("test loss", row["loss_test"]))
        self.guard.check(self.optimizer, epoch, self.checkpoint, read)
        d = self.diagnostics
        if d is not None:
            recorded = d.every and self.n_batches % d.every == 0
            row.update(d.columns(d.latest if recorded else d.record(self.model, epoch,
                                                                    self.n_batches)))
        self.rows.append(row)
        self.save(epoch, self.n_batches)
        return row

    def after_epoch(self, epoch):
        """Ctrl-C during the epoch's last step stops here, its row kept."""
        if self.ctrl_c["stop"]:
            raise self.stopped(epoch, self.n_batches)

    def history(self):
        """The rows as the DataFrame ``train`` returns (resumed runs may add columns)."""
        extra = [c for row in self.rows for c in row if c not in COLUMNS]
        return pandas.DataFrame(self.rows, columns=COLUMNS + list(dict.fromkeys(extra)))

    def save(self, epoch, step, sums=None, seconds=0.0, path=None):
        path = path or self.checkpoint
        if path:
            start = time.perf_counter()
            records = self.diagnostics.records if self.diagnostics is not None else None
            ckpt.save(path, self.model, self.optimizer, self.loader, epoch, step, self.rows, sums,
                      seconds=seconds, records=records)
            self.saving += time.perf_counter() - start

    def stopped(self, epoch, step, sums=None, seconds=0.0):
        """Save (to INTERRUPTED if no checkpoint was named) and say how to go on."""
        if not self.checkpoint:
            self.save(epoch, step, sums, seconds, path=INTERRUPTED)
        how = "rerun with --resume (resume=True) to continue" if self.checkpoint else \
            f"rerun with --checkpoint {INTERRUPTED} --resume (checkpoint={INTERRUPTED!r}, " \
            "resume=True) to continue"
        return TrainingStopped(f"interrupted in epoch {epoch} after step {step}; checkpoint "
                               f"saved to {self.checkpoint or INTERRUPTED}: {how}",
                               interrupted=True)

    def diagnostics_seconds(self):
        return self.diagnostics.seconds if self.diagnostics is not None else 0.0

    def elapsed(self):
        """Seconds of this epoch's training steps: diagnostics and saves left out."""
        self.loader.backend.synchronize()
        before, start, spent = self.clock
        return before + time.perf_counter() - start \
            - (self.diagnostics_seconds() + self.saving - spent)


@contextmanager
def ctrl_c_flag():
    """Turn Ctrl-C into a flag the loop reads between steps, so a step is never cut
    in half; a second Ctrl-C interrupts at once."""
    flag = {"stop": False}
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def handler(signum, frame):
        if flag["stop"]:
            raise KeyboardInterrupt
        flag["stop"] = True

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)


class FiniteGuard:
    """Remembers the first step whose loss was not finite, on the device; each check
    also reads the weights, the optimizer's running state and the losses read."""

    def __init__(self, xp):
        self.xp = xp
        self.first_bad = xp.asarray(math.inf)

    def update(self, value, step):
        xp = self.xp
        self.first_bad = xp.minimum(self.first_bad, xp.where(xp.isfinite(value), math.inf, step))

    def check(self, optimizer, epoch, checkpoint, losses=()):
        """Raise TrainingStopped if anything read so far is NaN or infinite.

        ``losses`` are ``(name, value)`` pairs of Python floats already read."""
        xp = self.xp
        state = [getattr(optimizer, n) for n in optimizer.state_names]
        bad = float(self.first_bad)  # sync point
        if bad != math.inf:
            what = f"the training loss became NaN or infinite at step {int(bad)}"
        elif not bool(xp.isfinite(optimizer.w).all()):
            what = "a weight became NaN or infinite"
        elif not all(bool(xp.isfinite(a).all()) for a in state):
            what = f"{type(optimizer).__name__}'s running averages overflowed"
        else:
            found = [f"the {name} is {value}" for name, value in losses
                     if not math.isfinite(value)]
            if not found:
                return
            what = " and ".join(found)
        kept = f"; the last good checkpoint {checkpoint} is kept" if checkpoint else ""
        raise TrainingStopped(f"training diverged in epoch {epoch}: {what}; lower the learning "
                              f"rate lr (--lr), now {optimizer.lr:g}{kept}")
