"""The training loop: one minibatch step, and epochs of them.

Inside the batch loop nothing is read back from the device: the loss and the
number of correct predictions are summed as 0-d arrays and read once per epoch
at the epoch's sync point (``Run.end_epoch``). What surrounds the loop, resuming,
Ctrl-C, the divergence guard, checkpoint saves, timing and the progress line,
is in run.py; how many BLAS threads a step runs, in threads.py.
"""

from .evaluation import evaluate  # noqa: F401  (minifa.training.evaluate, as before)
from .losses import SoftmaxCrossEntropy
from .run import Run
from .threads import scope


def train_step(model, loss, optimizer, x, y, threads=None):
    """One minibatch: forward, loss, backward, update. Returns (loss, correct) as arrays.

    ``threads``: the BLAS threads of this step alone, an int or "auto" (None:
    $MINIFA_THREADS, else "auto"; minifa.threads says how auto chooses)."""
    with scope(optimizer.xp, threads):
        z = model.forward(x)  # (n, k)
        value = loss.forward(z, y)  # ()
        model.backward(loss.backward(), y)  # the rule decides what each layer receives
        optimizer.step()
        return value, (z.argmax(axis=1) == y).sum()


def train(model, optimizer, train_loader, epochs=10, loss=None, test=None, on_epoch=None,
          diagnostics=None, checkpoint=None, resume=False, checkpoint_every=None, threads=None):
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

    ``threads`` sets the BLAS threads of every step and evaluation: an int, or
    "auto" to follow the machine's load (None: $MINIFA_THREADS, else "auto");
    minifa.threads has the policy. The same seed and thread setting give the
    same run; another thread count can change the last bits. While an epoch
    runs, a terminal on stderr shows its step and ETA on one line that the
    epoch's row replaces; nothing of it reaches the history or a log.

    The DataFrame has one row per epoch: ``loss_train`` and ``acc_train`` are
    means over that epoch's minibatches (taken before each update), the test
    columns are measured after the epoch, and ``seconds`` is the wall time of
    the epoch's training steps alone (diagnostics and checkpoint saves excluded;
    a resumed epoch adds the time spent before the interruption).
    """
    loss = loss or SoftmaxCrossEntropy()
    run = Run(model, optimizer, train_loader, epochs, loss, test, diagnostics, checkpoint,
              resume, checkpoint_every, threads)  # every check, before any step; resumes if asked
    with run.guarded():  # Ctrl-C between steps; a stop carries the history so far
        for epoch in run.epochs():
            total_loss, correct = run.start_epoch(epoch)
            for step, (x, y) in run.batches():
                value, hits = train_step(model, loss, optimizer, x, y, run.threads)
                total_loss = total_loss + value  # 0-d arrays: nothing read back
                correct = correct + hits
                run.after_step(epoch, step, value, (total_loss, correct))
            row = run.end_epoch(epoch, total_loss, correct)  # sync point
            if on_epoch is not None:
                on_epoch(row)
            run.after_epoch(epoch)
    return run.history()
