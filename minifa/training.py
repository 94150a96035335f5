"""The training loop and evaluation.

Inside the batch loop nothing is read back from the device: the loss and the
number of correct predictions are summed as 0-d arrays and read once per epoch
at the marked sync point.
"""

import time

import pandas

from .data.loader import DataLoader, check_data
from .losses import SoftmaxCrossEntropy

COLUMNS = ["epoch", "loss_train", "loss_test", "acc_train", "acc_test", "seconds"]


def train_step(model, loss, optimizer, x, y):
    """One minibatch: forward, loss, backward, update. Returns (loss, correct) as arrays."""
    z = model.forward(x)  # (n, k)
    value = loss.forward(z, y)  # ()
    model.backward(loss.backward(), y)  # the rule decides what each layer receives
    optimizer.step()
    return value, (z.argmax(axis=1) == y).sum()


def evaluate(model, x, y, loss=None, batch_size=1000):
    """Mean loss and accuracy of ``model`` on ``(x, y)`` as Python floats (a sync)."""
    loss = loss or SoftmaxCrossEntropy()
    loader = DataLoader(x, y, batch_size=min(batch_size, x.shape[0]), shuffle=False,
                        drop_last=False)
    total_loss = correct = 0
    for xb, yb in loader:
        z = model.forward(xb)
        total_loss = total_loss + loss.forward(z, yb) * xb.shape[0]
        correct = correct + (z.argmax(axis=1) == yb).sum()
    n = x.shape[0]
    return {"loss": float(total_loss) / n, "acc": float(correct) / n}  # sync point


def train(model, optimizer, train_loader, epochs=10, loss=None, test=None, on_epoch=None,
          diagnostics=None):
    """Train for ``epochs`` passes over ``train_loader``; returns the history.

    ``test`` is an ``(x, y)`` pair evaluated after each epoch. ``on_epoch(row)``
    is called with each finished row (a dict) so callers can print as it goes.
    ``diagnostics`` (a ``minifa.Diagnostics``) records alignment after each
    epoch, and every N steps if asked, and adds its per-epoch columns.

    The DataFrame has one row per epoch: ``loss_train`` and ``acc_train`` are
    means over that epoch's minibatches (taken before each update), the test
    columns are measured after the epoch, and ``seconds`` is the wall time of
    the epoch's training steps alone (diagnostics excluded).
    """
    loss = loss or SoftmaxCrossEntropy()
    epochs = int(epochs)
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    check_data(train_loader.x, train_loader.y, model.n_in, model.n_out, "training data")
    if test is not None:
        check_data(test[0], test[1], model.n_in, model.n_out, "test data")
    backend = train_loader.backend
    rows = []
    for epoch in range(1, epochs + 1):
        backend.synchronize()
        start = time.perf_counter()
        total_loss = correct = 0
        spent = diagnostics.seconds if diagnostics is not None else 0.0
        for step, (x, y) in enumerate(train_loader, start=1):
            value, hits = train_step(model, loss, optimizer, x, y)
            total_loss = total_loss + value
            correct = correct + hits
            if diagnostics is not None and diagnostics.every and step % diagnostics.every == 0:
                diagnostics.record(model, epoch, step)  # sync point, asked for
        backend.synchronize()
        seconds = time.perf_counter() - start
        if diagnostics is not None:
            seconds -= diagnostics.seconds - spent
        n_batches = len(train_loader)
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
            result = evaluate(model, test[0], test[1], loss)
            row["loss_test"], row["acc_test"] = result["loss"], result["acc"]
        if diagnostics is not None:
            n = len(train_loader)
            recorded = diagnostics.every and n % diagnostics.every == 0
            row.update(diagnostics.columns(
                diagnostics.latest if recorded else diagnostics.record(model, epoch, n)))
        rows.append(row)
        if on_epoch is not None:
            on_epoch(row)
    return pandas.DataFrame(rows, columns=COLUMNS + [c for c in rows[0] if c not in COLUMNS])
