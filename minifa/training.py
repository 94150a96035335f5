"""The training loop and evaluation.

Inside the batch loop nothing is read back from the device: the loss and the
number of correct predictions are summed as 0-d arrays and read once per epoch
at the marked sync point. Whether the loss stayed finite is tracked the same
way (the first bad step, as a 0-d array) and checked there too.
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
from .data.loader import DataLoader, check_data
from .errors import InputError, TrainingStopped
from .losses import SoftmaxCrossEntropy

COLUMNS = ["epoch", "loss_train", "loss_test", "acc_train", "acc_test", "seconds"]
INTERRUPTED = "minifa-interrupted.npz"  # where Ctrl-C saves when no checkpoint was named


def train_step(model, loss, optimizer, x, y):
    """One minibatch: forward, loss, backward, update. Returns (loss, correct) as arrays."""
    z = model.forward(x)  # (n, k)
    value = loss.forward(z, y)  # ()
    model.backward(loss.backward(), y)  # the rule decides what each layer receives
    optimizer.step()
    return value, (z.argmax(axis=1) == y).sum()


def evaluate(model, x, y, loss=None, batch_size=1000):
    """Mean loss and accuracy of ``model`` on ``(x, y)`` as Python floats (a sync)."""
    check_data(x, y, model.n_in, model.n_out, "evaluation data")
    return _evaluate(model, x, y, loss or SoftmaxCrossEntropy(), batch_size)


def _evaluate(model, x, y, loss, batch_size):
    """evaluate() on data already checked (train checks its test set once, at entry)."""
    loader = DataLoader(x, y, batch_size=min(batch_size, x.shape[0]), shuffle=False,
                        drop_last=False, check=False)
    total_loss = correct = 0
    for xb, yb in loader:
        z = model.forward(xb)
        total_loss = total_loss + loss.forward(z, yb) * xb.shape[0]
        correct = correct + (z.argmax(axis=1) == yb).sum()
    n = x.shape[0]
    return {"loss": float(total_loss) / n, "acc": float(correct) / n}  # sync point


@contextmanager
def _ctrl_c_flag():
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


class _FiniteGuard:
    """Remembers the first step whose loss was not finite, on the device; each check
    also reads the weights, the optimizer's running state and the losses read."""

    STATE = ("mu", "nu", "u")  # the optimizers' running averages (Adam's, SGD's momentum)

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
        state = [getattr(optimizer, n) for n in self.STATE if hasattr(optimizer, n)]
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


def _history(rows):
    """The history DataFrame of ``rows`` (resumed runs may add columns)."""
    extra = [c for row in rows for c in row if c not in COLUMNS]
    return pandas.DataFrame(rows, columns=COLUMNS + list(dict.fromkeys(extra)))


def train(model, optimizer, train_loader, epochs=10, loss=None, test=None, on_epoch=None,
          diagnostics=None, checkpoint=None, resume=False, checkpoint_every=None):
    """Train for ``epochs`` passes over ``train_loader``; returns the history.

    ``test`` is an ``(x, y)`` pair evaluated after each epoch. ``on_epoch(row)``
    is called with each finished row (a dict) so callers can print as it goes.
    ``diagnostics`` (a ``minifa.Diagnostics``) records alignment after each
    epoch, and every N steps if asked, and adds its per-epoch columns.

    ``checkpoint`` is a file path: the whole training state is saved there
    after every epoch (and every ``checkpoint_every`` steps), and with
    ``resume=True`` training continues from it, bit for bit as if never
    stopped. Ctrl-C saves it after the current step (to ``minifa-interrupted.npz``
    in the working folder when no ``checkpoint`` is named) and raises
    ``TrainingStopped``; a non-finite loss (train or test), weight or optimizer
    state raises it without saving. Either way the exception's ``history`` holds
    the epochs finished so far. ``resume=True`` without a file at ``checkpoint``
    starts afresh.

    The DataFrame has one row per epoch: ``loss_train`` and ``acc_train`` are
    means over that epoch's minibatches (taken before each update), the test
    columns are measured after the epoch, and ``seconds`` is the wall time of
    the epoch's training steps alone (diagnostics and checkpoint saves excluded;
    a resumed epoch adds the time spent before the interruption).
    """
    loss = loss or SoftmaxCrossEntropy()
    epochs = int(epochs)
    if epochs < 1:
        raise InputError(f"epochs must be at least 1, got {epochs}")
    check_data(train_loader.x, train_loader.y, model.n_in, model.n_out, "training data",
               integer_x=train_loader.scale is not None)
    if test is not None:
        check_data(test[0], test[1], model.n_in, model.n_out, "test data")
    if checkpoint:
        ckpt.check_savable(model)
    backend = train_loader.backend
    n_batches = len(train_loader)
    rows, first_epoch, first_step, sums, carried = [], 1, 0, None, 0.0
    if resume and checkpoint and os.path.exists(checkpoint):
        meta = ckpt.load(checkpoint, model, optimizer, train_loader)
        rows, first_epoch, first_step = meta["history"], meta["epoch"], meta["step"]
        sums, carried = meta.get("sums"), meta.get("seconds", 0.0)
        if first_step == n_batches:
            first_epoch, first_step = first_epoch + 1, 0
        if diagnostics is not None and not diagnostics.records:
            diagnostics.records = list(meta.get("diagnostics") or [])
    guard = _FiniteGuard(get_array_module(optimizer.w))

    saving = {"seconds": 0.0}

    def save(epoch, step, sums=None, seconds=0.0, path=checkpoint):
        if path:
            start = time.perf_counter()
            records = diagnostics.records if diagnostics is not None else None
            ckpt.save(path, model, optimizer, train_loader, epoch, step, rows, sums,
                      seconds=seconds, records=records)
            saving["seconds"] += time.perf_counter() - start

    def stopped(epoch, step, sums=None, seconds=0.0):
        """Save (to INTERRUPTED if no checkpoint was named) and say how to go on."""
        if not checkpoint:
            save(epoch, step, sums, seconds, path=INTERRUPTED)
        how = "rerun with --resume (resume=True) to continue" if checkpoint else \
            f"rerun with --checkpoint {INTERRUPTED} --resume (checkpoint={INTERRUPTED!r}, " \
            "resume=True) to continue"
        return TrainingStopped(f"interrupted in epoch {epoch} after step {step}; checkpoint "
                               f"saved to {checkpoint or INTERRUPTED}: {how}", interrupted=True)

    def diagnostics_seconds():
        return diagnostics.seconds if diagnostics is not None else 0.0

    clock = {}

    def elapsed():
        """Seconds of this epoch's training steps: diagnostics and saves left out."""
        backend.synchronize()
        return clock["before"] + time.perf_counter() - clock["start"] \
            - (diagnostics_seconds() + saving["seconds"] - clock["spent"])

    if diagnostics is not None and first_epoch == 1 and first_step == 0:
        diagnostics.record(model, 1, 0)  # the starting point: random feedback, ~90 degrees
    # Overflow and NaN are the guard's to report, as one error: NumPy's RuntimeWarnings
    # would only repeat it, in the middle of the epoch table.
    with _ctrl_c_flag() as ctrl_c, numpy.errstate(over="ignore", invalid="ignore"):
        try:
            for epoch in range(first_epoch, epochs + 1):
                start_step = first_step if epoch == first_epoch else 0
                total_loss, correct = sums if start_step else (0, 0)
                backend.synchronize()
                clock.update(before=carried if start_step else 0.0,  # the interrupted part's
                             start=time.perf_counter(),
                             spent=diagnostics_seconds() + saving["seconds"])
                batches = train_loader.batches(start_step)
                for step, (x, y) in enumerate(batches, start=start_step + 1):
                    value, hits = train_step(model, loss, optimizer, x, y)
                    total_loss = total_loss + value
                    correct = correct + hits
                    guard.update(value, step)
                    if diagnostics is not None and diagnostics.every and \
                            step % diagnostics.every == 0:
                        diagnostics.record(model, epoch, step)  # sync point, asked for
                    if step == n_batches:  # the epoch's end saves below, Ctrl-C or not
                        break
                    if ctrl_c["stop"] or (checkpoint_every and step % checkpoint_every == 0):
                        guard.check(optimizer, epoch, checkpoint)  # sync point
                        seconds = elapsed()
                        save(epoch, step, (total_loss, correct), seconds)
                        if ctrl_c["stop"]:
                            raise stopped(epoch, step, (total_loss, correct), seconds)
                seconds = elapsed()
                n_seen = n_batches * train_loader.batch_size if train_loader.drop_last else \
                    train_loader.x.shape[0]
                row = {
                    "epoch": epoch,
                    "loss_train": float(total_loss) / n_batches,  # sync point
                    "acc_train": float(correct) / n_seen,
                    "loss_test": float("nan"),
                    "acc_test": float("nan"),
                    "seconds": seconds,
                }
                if test is not None:
                    result = _evaluate(model, test[0], test[1], loss, 1000)
                    row["loss_test"], row["acc_test"] = result["loss"], result["acc"]
                read = [("training loss", row["loss_train"])]
                guard.check(optimizer, epoch, checkpoint,
                            read + ([("test loss", row["loss_test"])] if test is not None else []))
                if diagnostics is not None:
                    recorded = diagnostics.every and n_batches % diagnostics.every == 0
                    row.update(diagnostics.columns(
                        diagnostics.latest if recorded else diagnostics.record(model, epoch,
                                                                               n_batches)))
                rows.append(row)
                save(epoch, n_batches)
                if on_epoch is not None:
                    on_epoch(row)
                if ctrl_c["stop"]:
                    raise stopped(epoch, n_batches)
        except TrainingStopped as exc:
            exc.history = _history(rows)  # the finished epochs, for the caller to keep
            raise
    return _history(rows)
