"""Evaluation: mean loss and accuracy over a dataset, in batches."""

from .data.loader import DataLoader, check_data
from .losses import SoftmaxCrossEntropy
from .threads import scope, setting


def evaluate(model, x, y, loss=None, batch_size=1000, threads=None):
    """Mean loss and accuracy of ``model`` on ``(x, y)`` as Python floats (a sync).

    ``threads``: BLAS threads, as ``train_step`` takes them."""
    check_data(x, y, model.n_in, model.n_out, "evaluation data")
    return evaluate_checked(model, x, y, loss or SoftmaxCrossEntropy(), batch_size,
                            setting(threads))


def evaluate_checked(model, x, y, loss, batch_size, threads=None):
    """evaluate() on data already checked (train checks its test set once, at entry)."""
    loader = DataLoader(x, y, batch_size=min(batch_size, x.shape[0]), shuffle=False,
                        drop_last=False, check=False)
    total_loss = correct = 0
    with scope(loader.backend.xp, threads):
        for xb, yb in loader:
            z = model.forward(xb)
            total_loss = total_loss + loss.forward(z, yb) * xb.shape[0]
            correct = correct + (z.argmax(axis=1) == yb).sum()
    n = x.shape[0]
    return {"loss": float(total_loss) / n, "acc": float(correct) / n}  # sync point
