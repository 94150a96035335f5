"""Alignment diagnostics: how close each layer's learning signal is to the gradient.

For one minibatch, ``diagnose`` runs the model forward once and walks down
twice: along the rule's path (``layer.feedback``) and along the exact
gradient's (``layer.bp_feedback``, the true transposes), without copying the
model. Per layer with parameters it reports

    delta_angle     angle between the delta the rule delivered and BP's delta
    update_angle    angle between the rule's dW and the true gradient dW
    signal_angle    angle between the signal this layer sends down and BP's
                    (under DFA and DRTP: what B_l delivers from the output)
    weight_angle    angle between W.T and B, where a B of that shape exists
    norm_ratio      ||B|| / ||W||
    sign_agreement  fraction of entries where sign(B) = sign(W.T)

Angles are in degrees between the arrays taken as flat vectors: 0 is perfect
alignment, 90 is none. A layer whose feedback no layer ever uses (the first
layer's B) has ``feedback_used`` False and no signal/weight numbers.

Rules that rebuild B every step (uSF, frSF, brSF) are measured with the B
their last step used. Diagnostics change nothing that training reads: every random generator a
layer holds is restored afterwards, and gradients and cached activations are
recomputed by the next step anyway.
"""

import time

import pandas

from .backend import get_array_module
from .losses import SoftmaxCrossEntropy
from .seeding import generators

METRICS = ("delta_angle", "update_angle", "signal_angle", "weight_angle", "norm_ratio",
           "sign_agreement")


def angle(a, b):
    """Angle in degrees between ``a`` and ``b`` as flat vectors (a 0-d array; NaN if
    either is zero)."""
    xp = get_array_module(a, b)
    a, b = a.ravel(), b.ravel()
    cos = (a @ b) / (xp.sqrt(a @ a) * xp.sqrt(b @ b))
    return xp.degrees(xp.arccos(xp.clip(cos, -1.0, 1.0)))


def _matching_feedback(layer):
    """``(W_like, B)`` comparable entry by entry, or None (DFA's (k, in) B is not)."""
    B = getattr(layer, "B", None)
    if B is None:
        return None
    if B.ndim != 2:  # convolution filters: B has W's own shape
        return (layer.W, B) if B.shape == layer.W.shape else None
    return (layer.W.T, B) if B.shape == layer.W.T.shape else None


def angle_columns(model):
    """The history columns worth printing for ``model``: ``delta_angle_<i>`` for every
    layer with parameters (1 = the first), ``weight_angle_<i>`` where that layer
    has a B comparable with W.T and its feedback is used (not layer 1)."""
    with_params = [layer for layer in model.layers if layer.param_names]
    deltas = [f"delta_angle_{i}" for i in range(1, len(with_params) + 1)]
    weights = [f"weight_angle_{i}" for i, layer in enumerate(with_params, start=1)
               if i > 1 and _matching_feedback(layer) is not None]
    return deltas + weights


def diagnose(model, x, y, loss=None):
    """Per-layer diagnostics of ``model`` on the minibatch ``(x, y)``, with the
    output error of ``loss`` (default: softmax cross-entropy).

    Returns a list of dicts, one per layer with parameters (top first), with
    ``layer`` (1 = the first such layer), ``kind`` and the METRICS as Python
    floats (NaN where a metric does not apply). Reading them is one sync.
    """
    states = [(g, g.bit_generator.state) for layer in model.layers
              for g in generators(layer).values()]
    try:
        return _diagnose(model, x, y, loss or SoftmaxCrossEntropy())
    finally:
        for g, state in states:
            g.bit_generator.state = state


def _diagnose(model, x, y, loss):
    layers = model.layers
    with_params = [i for i, layer in enumerate(layers) if layer.param_names]
    loss.forward(model.forward(x), y)
    e = loss.backward()
    rows = []
    delta_rule = delta_bp = e
    for i in reversed(range(len(layers))):
        layer = layers[i]
        if layer.param_names:
            row = {"layer": with_params.index(i) + 1, "kind": type(layer).__name__,
                   "feedback_used": any(j < i for j in with_params)}
            layer.grads(delta_bp)
            dW_true = layer.dW.copy()
            layer.grads(delta_rule)  # last, so dW is the rule's, as after a step
            row["delta_angle"] = angle(delta_rule, delta_bp)
            row["update_angle"] = angle(layer.dW, dW_true)
            pair = _matching_feedback(layer)
            if pair is not None and row["feedback_used"]:
                W, B = pair
                xp = get_array_module(W)
                row["weight_angle"] = angle(W, B)
                row["norm_ratio"] = xp.sqrt((B * B).sum()) / xp.sqrt((W * W).sum())
                row["sign_agreement"] = (xp.sign(B) == xp.sign(W)).mean()
            rows.append(row)
        if i == 0:
            break
        source = layer.signal(e, y) if layer.direct else delta_rule  # DFA, DRTP: from the output
        signal_rule, signal_bp = layer.feedback(source), layer.bp_feedback(delta_bp)
        if layer.param_names and rows[-1]["feedback_used"]:
            rows[-1]["signal_angle"] = angle(signal_rule, signal_bp)
        delta_rule, delta_bp = signal_rule, signal_bp
    for row in rows:  # sync point: one read-back for the whole table
        for m in METRICS:
            row[m] = float(row[m]) if m in row else float("nan")
    return rows


class Diagnostics:
    """Records ``diagnose`` on a fixed minibatch during ``train``.

    ``Diagnostics(x, y)`` records before the first step and after each
    epoch's last step; ``every=N`` also every N steps; ``loss`` is the one
    training uses (default: softmax cross-entropy). ``frame()`` gives the tidy table (one row
    per record and layer); ``train`` adds the per-epoch values to its history
    as ``<metric>_<layer>`` columns. ``seconds`` is the time spent here, which
    ``train`` leaves out of the epoch's time.
    """

    def __init__(self, x, y, every=None, loss=None):
        self.x, self.y, self.loss = x, y, loss
        self.every = int(every) if every else None
        self.records = []
        self.latest = []
        self.seconds = 0.0

    def record(self, model, epoch, step):
        start = time.perf_counter()
        rows = self.latest = diagnose(model, self.x, self.y, self.loss)
        for row in rows:
            self.records.append({"epoch": epoch, "step": step, **row})
        self.seconds += time.perf_counter() - start
        return rows

    def columns(self, rows):
        """``{"delta_angle_2": ..., ...}`` for one epoch's history row."""
        return {f"{m}_{row['layer']}": row[m] for row in rows for m in METRICS}

    def frame(self):
        return pandas.DataFrame(self.records)
