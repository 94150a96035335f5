"""Losses: ``forward(z, y)`` returns a 0-d array, ``backward()`` the delta at z."""

from . import fast
from .backend import get_array_module
from .errors import InputError
from .targets import one_hot


class SoftmaxCrossEntropy:
    """Mean cross-entropy of softmax(z) against integer labels y.

        L = mean_n( logsumexp(z_n) - z_n[y_n] )        (n, k), (n,) -> ()
        e = softmax(z) - onehot(y);  delta = e / n      (n, k) -> (n, k)

    The log-sum-exp subtracts each row's maximum first so exp never overflows.
    The loss stays a 0-d array on the device: reading it is a sync.
    """

    error_expr = "softmax(z) - onehot(y)"  # for explain()

    def __init__(self):
        self.rows = None

    def forward(self, z, y):
        xp = get_array_module(z, y)
        check_logits(z, y)
        n = z.shape[0]
        if self.rows is None or self.rows.shape[0] != n or not isinstance(self.rows, type(z)):
            self.rows = xp.arange(n)  # row indices for picking z_n[y_n]; kept between calls
        try:
            fused = fast.softmax_cross_entropy(z, y)  # the lines below as CPU loops
        except IndexError:
            raise labels_past(z) from None
        if fused is not None:
            value, self.p = fused
            self.y = y
            return value
        z = z - z.max(axis=1, keepdims=True)  # shift for stability; L is unchanged
        p = xp.exp(z)
        s = p.sum(axis=1)  # (n,)
        p /= s[:, None]  # softmax(z)
        try:
            z_y = z[self.rows, y]  # (n,)
        except IndexError:
            raise labels_past(z) from None
        self.p, self.y = p, y
        return ((xp.log(s) - z_y) * (1.0 / n)).sum()  # divided first: no overflow in the sum

    def backward(self):
        fused = fast.softmax_ce_backward(self.p, self.y)  # the lines below as one kernel
        if fused is not None:
            return fused
        e = self.p.copy()
        e[self.rows, self.y] -= 1  # e = softmax(z) - onehot(y)
        e *= 1.0 / e.shape[0]  # mean over the batch
        return e

    def __repr__(self):
        return "SoftmaxCrossEntropy()"


class SigmoidCrossEntropy:
    """Mean binary cross-entropy of sigmoid(z) against one-hot targets t: each
    output is its own yes/no classifier (as in Akrout et al. 2019 and Frenkel
    et al. 2021's sigmoid output layer).

        L = mean_n sum_k( softplus(z_nk) - t_nk z_nk ),  t = onehot(y)    (n, k), (n,) -> ()
        e = sigmoid(z) - t;  delta = e / n                                   (n, k) -> (n, k)

    softplus(z) = log(1 + exp(z)) is computed as logaddexp(0, z), so no exp
    overflows; the sum is -t log(sigmoid(z)) - (1 - t) log(1 - sigmoid(z)).
    """

    error_expr = "sigmoid(z) - onehot(y)"

    def forward(self, z, y):
        xp = get_array_module(z, y)
        check_logits(z, y)
        n, k = z.shape
        t = _targets(y, k, z.dtype)
        self.e = xp.exp(-xp.logaddexp(0.0, -z)) - t  # sigmoid(z) - t
        return ((xp.logaddexp(0.0, z) - t * z).sum(axis=1) * (1.0 / n)).sum()

    def backward(self):
        return self.e * (1.0 / self.e.shape[0])  # delta = e / n

    def __repr__(self):
        return "SigmoidCrossEntropy()"


class MeanSquaredError:
    """Half the squared distance between the outputs and one-hot targets,
    averaged over the batch:

        L = mean_n( ||z_n - t_n||^2 / 2 ),  t = onehot(y)    (n, k), (n,) -> ()
        e = z - t;  delta = e / n                             (n, k) -> (n, k)
    """

    error_expr = "z - onehot(y)"

    def forward(self, z, y):
        check_logits(z, y)
        n, k = z.shape
        self.e = z - _targets(y, k, z.dtype)  # (n, k)
        return ((0.5 * self.e * self.e).sum(axis=1) * (1.0 / n)).sum()

    def backward(self):
        return self.e * (1.0 / self.e.shape[0])  # delta = e / n

    def __repr__(self):
        return "MeanSquaredError()"


LOSSES = {"softmax-ce": SoftmaxCrossEntropy, "sigmoid-ce": SigmoidCrossEntropy,
          "mse": MeanSquaredError}


def _targets(y, k, dtype):
    try:
        return one_hot(y, k, dtype)  # (n,) -> (n, k)
    except IndexError:
        raise InputError(f"labels reach past the {k} outputs: labels must be 0..{k - 1}") \
            from None


def labels_past(z):
    """The error for labels that reach past the outputs of logits z (n, k)."""
    return InputError(f"labels reach past the {z.shape[1]} outputs: labels must be "
                      f"0..{z.shape[1] - 1}")


def check_logits(z, y):
    """Shapes and dtypes of a loss's input (Python-side only: no sync). The label
    range is checked where data enters, by ``check_data``."""
    if z.ndim != 2 or z.shape[1] < 1:
        raise InputError(f"the loss expects logits of shape (batch, classes), got "
                         f"{tuple(z.shape)}")
    if y.ndim != 1 or y.shape[0] != z.shape[0]:
        raise InputError(f"the loss expects {z.shape[0]} integer labels of shape "
                         f"({z.shape[0]},), got shape {tuple(y.shape)}")
    if y.dtype.kind not in "iu":
        raise InputError(f"labels are {y.dtype.name}; they must be integers")
