"""Figures from training histories (matplotlib, imported only when plotting).

Each function takes what ``train`` returns (one history, or several with a
``rule`` column) and writes a PNG atomically: a crash never leaves a partial
image at ``path``.
"""

import os

from .fileio import atomic_write

LAYER_COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple")


def _pyplot():
    try:
        import matplotlib
    except ImportError as exc:
        from .errors import MinifaError

        raise MinifaError("plotting needs matplotlib: pip install matplotlib") from exc

    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path):
    path = os.fspath(path)
    try:
        with atomic_write(path) as f:
            fig.savefig(f, format=os.path.splitext(path)[1][1:].lower() or "png", dpi=120,
                        bbox_inches="tight")
    finally:
        _pyplot().close(fig)


def _suptitle(fig, title):
    """The recipe above the panels: anchored at its bottom edge, so a two-line title
    grows upwards instead of running into the panels' own titles."""
    if title:
        fig.suptitle(title, y=0.97, va="bottom")


def _whole_epochs(ax):
    """Ticks on whole epochs only: epoch 1.5 is not a thing the table shows."""
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _layers(history, metric):
    prefix = metric + "_"
    found = [c for c in history.columns if c.startswith(prefix) and c[len(prefix):].isdigit()]
    return sorted(found, key=lambda c: int(c[len(prefix):]))


def _series(history, metric, records, steps_per_epoch):
    """(layer, x, angles) per layer, from the history or from the records."""
    if records is None:
        for column in _layers(history, metric):
            yield column.rsplit("_", 1)[1], history["epoch"], history[column]
        return
    for layer, rows in records.groupby("layer"):
        yield layer, rows["epoch"] - 1 + rows["step"] / steps_per_epoch, rows[metric]


def learning_curves(history, path, title=None):
    """Loss and accuracy, train and test, per epoch."""
    plt = _pyplot()
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(9, 3.5))
    for split, style in (("train", "-"), ("test", "--")):
        ax_loss.plot(history["epoch"], history[f"loss_{split}"], style, label=split)
        ax_acc.plot(history["epoch"], history[f"acc_{split}"], style, label=split)
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
        _whole_epochs(ax)
    _suptitle(fig, title)
    _save(fig, path)


def alignment(history, path, title=None, records=None, steps_per_epoch=None):
    """Per layer: the angle between the rule's delta and BP's, and between W.T and B.

    From the history's per-epoch columns, or, given ``records`` (a
    ``Diagnostics.frame()``) and ``steps_per_epoch``, from every record,
    placed at fractional epochs (0 = before training)."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5), sharey=True)
    for ax, metric, label in ((axes[0], "delta_angle", "delta vs BP delta"),
                              (axes[1], "weight_angle", "W.T vs B")):
        for i, (layer, x, angles) in enumerate(_series(history, metric, records,
                                                        steps_per_epoch)):
            if angles.notna().any():
                ax.plot(x, angles, "o-", ms=2 if records is not None else 3,
                        color=LAYER_COLOURS[i % len(LAYER_COLOURS)], label=f"layer {layer}")
        ax.axhline(90, color="grey", lw=0.8, ls=":")
        ax.set(xlabel="epoch", title=label, ylim=(0, 100))
        ax.grid(alpha=0.3)
        _whole_epochs(ax)
        if ax.lines[1:]:
            ax.legend()
    axes[0].set_ylabel("angle (degrees)")
    _suptitle(fig, title)
    _save(fig, path)


def compare(histories, path, title=None):
    """Test accuracy per epoch for each rule, and seconds per epoch relative to BP."""
    plt = _pyplot()
    fig, (ax_acc, ax_time) = plt.subplots(1, 2, figsize=(10, 3.8),
                                          gridspec_kw={"width_ratios": [3, 2]})
    seconds = {}
    for rule, h in histories.groupby("rule", sort=False):
        ax_acc.plot(h["epoch"], h["acc_test"], "o-", ms=3, label=rule)
        seconds[rule] = h["seconds"].median()
    ax_acc.set(xlabel="epoch", ylabel="test accuracy", title="test accuracy")
    ax_acc.grid(alpha=0.3)
    _whole_epochs(ax_acc)
    n = len(seconds)  # below the axes, where no curve runs
    ax_acc.legend(ncol=min(n, 5), fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.18))
    base = seconds.get("bp", 1.0)
    rules = list(seconds)
    ax_time.bar(rules, [seconds[r] / base for r in rules], color="tab:grey")
    ax_time.axhline(1.0, color="black", lw=0.8)
    ax_time.set(title="seconds per epoch / BP's" if "bp" in seconds else "seconds per epoch")
    ax_time.tick_params(axis="x", rotation=45)
    _suptitle(fig, title)
    _save(fig, path)
