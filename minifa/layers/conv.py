"""Convolutional layers: backpropagation and feedback alignment side by side,
plus the pooling and reshaping layers a LeNet needs.

Images are (n, c, h, w) arrays. A convolution is computed as one matrix
product on "columns" (im2col): each column of ``cols`` holds the c_in*kh*kw
input values one output pixel sees, in the order of ``W.reshape(c_out, -1)``.
"""

import math
import numbers

from .. import fast
from ..backend import get_array_module, get_backend
from ..errors import InputError
from ..init import check_dtype, glorot_uniform
from ..seeding import as_rng
from .base import Layer
from .checks import check_image


class Conv2d(Layer):
    """2-D convolution (a cross-correlation, as in every deep-learning library)
    trained by backpropagation, as in the convolutional nets of LeCun et al.
    1998 ("Gradient-based learning applied to document recognition", Proc.
    IEEE 86(11):2278-2324).

    With K = c_in*kh*kw input values under one kernel, m = n*oh*ow output
    pixels, oh = (h + 2*padding - kh) // stride + 1 (ow alike), and the filters
    as a matrix ``W_mat = W.reshape(c_out, K)``:

        cols = im2col(x)                (n, c_in, h, w) -> (K, m)
        z = W_mat @ cols + b            (c_out, K) @ (K, m) -> (c_out, m) -> (n, c_out, oh, ow)
        dW = delta_mat @ cols.T         (c_out, m) @ (m, K) -> (c_out, K) -> W's shape
        db = sum_m delta_mat            (c_out, m) -> (c_out,)
        dcols = W_mat.T @ delta_mat     (K, c_out) @ (c_out, m) -> (K, m)
        delta_in = col2im(dcols)        (K, m) -> (n, c_in, h, w)

    Column j of ``cols`` is the patch of input that output pixel j sees (the
    "columns" of im2col, Chellapilla et al. 2006), ``delta_mat`` is ``delta``
    (n, c_out, oh, ow) laid out as (c_out, m), and col2im adds every entry of
    ``dcols`` back onto the input pixel it came from. The same equations with
    one row per pixel, ``rows = cols.T``: ``z = rows @ W_mat.T + b``,
    ``dW = delta_rows.T @ rows``, ``drows = delta_rows @ W_mat``. On NumPy with
    Numba, a stride-1 conv with a small filter bank (LeNet's conv 1) reads cols
    off the padded input in compiled loops instead of building it
    (fast.conv_lines): ``lines`` is then kept in place of ``cols``.

    ``W`` (c_out, c_in, kh, kw) is drawn Glorot-uniform from ``rng`` with
    fan_in = c_in*kh*kw and fan_out = c_out*kh*kw; ``b`` (c_out,) starts at
    zero; both live on ``backend`` in ``dtype``.
    """

    param_names = ("W", "b")
    cache_names = ("cols", "lines")
    # for explain(): the lines grads() and feedback() compute, each beside its shapes
    grads_expr = (("cols_{l} = im2col({x})", "{x} -> {cols}"),
                  ("delta_mat_{l} = {d} as (c_out, n*oh*ow)", "{d} -> {delta_mat}"),
                  ("dW_{l} = delta_mat_{l} @ cols_{l}.T",
                   "{W_mat} = {delta_mat} @ {cols.T}, as {W}"))
    feedback_steps = (("dcols_{l} = W_mat_{l}.T @ delta_mat_{l}",
                       "{cols} = {W_mat.T} @ {delta_mat}"),)
    feedback_expr, feedback_shapes = "col2im(dcols_{l})", "col2im({cols})"

    def __init__(self, c_in, c_out, kernel_size, stride=1, padding=0, *, rng=None,
                 dtype="float32", backend=None):
        pair = (kernel_size,) * 2 if isinstance(kernel_size, numbers.Integral) else \
            tuple(kernel_size)
        if len(pair) != 2:
            raise InputError(f"Conv2d: kernel_size is one size or (height, width), "
                             f"got {kernel_size!r}")
        kh, kw = pair
        self.c_in, self.c_out, self.kh, self.kw = int(c_in), int(c_out), int(kh), int(kw)
        self.stride, self.padding = int(stride), int(padding)
        if min(self.c_in, self.c_out, self.kh, self.kw, self.stride) < 1 or self.padding < 0:
            raise InputError(f"{self!r}: channels, kernel size and stride must be positive "
                             "integers and padding at least 0")
        self.backend = get_backend(backend)
        self.dtype = check_dtype(dtype)
        self.xp = self.backend.xp
        shape = (self.c_out, self.c_in, self.kh, self.kw)
        self.W = glorot_uniform(as_rng(rng), shape, self.dtype, self.backend)
        self.b = self.xp.zeros((self.c_out,), dtype=self.dtype)
        self.dW = self.xp.zeros_like(self.W)
        self.db = self.xp.zeros_like(self.b)

    def forward(self, x):
        check_image(self, x)
        n, _, h, w = x.shape
        self.x_shape = x.shape
        self.oh = (h + 2 * self.padding - self.kh) // self.stride + 1
        self.ow = (w + 2 * self.padding - self.kw) // self.stride + 1
        self.lines = fast.conv_lines(self, x)  # where the loops below can run: x, padded
        if self.lines is not None:  # the lines below as loops that read cols off the lines
            self.cols, z = None, fast.conv_forward(self, self.lines)
        else:
            self.cols = self.im2col(x)  # (n, c_in, h, w) -> (K, m)
            z = self.W.reshape(self.c_out, -1) @ self.cols  # (c_out, K) @ (K, m) -> (c_out, m)
            z += self.b[:, None]  # z = W_mat @ cols + b
        # (c_out, m) -> (n, c_out, oh, ow): a view, so the memory stays channel-major
        return z.reshape(self.c_out, n, self.oh, self.ow).transpose(1, 0, 2, 3)

    def grads(self, delta):
        delta_mat = self.to_mat(delta)  # (n, c_out, oh, ow) -> (c_out, m)
        # dW is written in place: the optimizer holds it as a view of its flat array.
        # dW = delta_mat @ cols.T: (c_out, m) @ (m, K) -> (c_out, K), as fast.py computes it
        self.dW[...] = fast.conv_weight_grad(self, delta_mat).reshape(self.W.shape)
        delta_mat.sum(axis=1, out=self.db)  # (c_out, m) -> (c_out,)

    def bp_feedback(self, delta):
        dcols = self.W.reshape(self.c_out, -1).T @ self.to_mat(delta)  # (K, c_out) @ (c_out, m)
        return self.col2im(dcols)  # (K, m) -> (n, c_in, h, w)

    def explain_shapes(self, x, z):
        n, c_out, oh, ow = z
        K, m = self.c_in * self.kh * self.kw, n * oh * ow
        return {"cols": (K, m), "delta_mat": (c_out, m), "W_mat": (c_out, K), "B_mat": (c_out, K)}

    def to_mat(self, delta):
        """(n, c_out, oh, ow) -> (c_out, n*oh*ow): one column per output pixel, like ``z``."""
        return delta.transpose(1, 0, 2, 3).reshape(self.c_out, -1)

    def im2col(self, x):
        """(n, c_in, h, w) -> (c_in*kh*kw, n*oh*ow): column (i, r, s) holds the patch
        of image i under output pixel (r, s).

        For each kernel offset (p, q), ``xpad[:, :, p + stride*r, q + stride*s]``
        over every output pixel (r, s) is the input that meets ``W[:, :, p, q]``:
        one strided slice, which fills rows (c, p, q) of ``cols`` for every
        channel c at once.
        """
        fused = fast.im2col(self, x)  # the lines below as one CPU loop, where there is one
        if fused is not None:
            return fused
        # One column per pixel (not one row) makes each slice's copy one
        # contiguous block of cols.
        xp, s, (n, c, _, _), oh, ow = self.xp, self.stride, self.x_shape, self.oh, self.ow
        xpad = self.pad(x).transpose(1, 0, 2, 3)  # (c, n, h+2*padding, w+2*padding)
        cols = xp.empty((c, self.kh, self.kw, n, oh, ow), dtype=x.dtype)
        for p in range(self.kh):
            for q in range(self.kw):
                cols[:, p, q] = xpad[:, :, p:p + s * oh:s, q:q + s * ow:s]  # (c, n, oh, ow)
        return cols.reshape(c * self.kh * self.kw, n * oh * ow)

    def col2im(self, dcols):
        """(c_in*kh*kw, n*oh*ow) -> (n, c_in, h, w), the mirror of ``im2col``: each
        entry is added onto the input pixel it was copied from (overlaps sum)."""
        fused = fast.col2im(self, dcols)  # the lines below as one CPU loop, where there is one
        if fused is not None:
            return fused
        xp, s, (n, c, h, w), oh, ow = self.xp, self.stride, self.x_shape, self.oh, self.ow
        pad = self.padding
        dcols = dcols.reshape(c, self.kh, self.kw, n, oh, ow)
        dx = xp.zeros((c, n, h + 2 * pad, w + 2 * pad), dtype=dcols.dtype)
        for p in range(self.kh):
            for q in range(self.kw):
                dx[:, :, p:p + s * oh:s, q:q + s * ow:s] += dcols[:, p, q]  # (c, n, oh, ow)
        dx = dx[:, :, pad:pad + h, pad:pad + w]  # drop the padding's gradient
        return dx.transpose(1, 0, 2, 3)  # (c, n, h, w) -> (n, c, h, w)

    def pad(self, x):
        """x with ``padding`` zeros around each image: (n, c, h, w) -> (n, c, h+2p, w+2p)."""
        pad = self.padding
        if pad == 0:
            return x
        n, c, h, w = x.shape
        xpad = self.xp.zeros((n, c, h + 2 * pad, w + 2 * pad), dtype=x.dtype)
        xpad[:, :, pad:pad + h, pad:pad + w] = x
        return xpad

    def __repr__(self):
        k = self.kh if self.kh == self.kw else (self.kh, self.kw)
        extra = (f", stride={self.stride}" if self.stride != 1 else "") + (
            f", padding={self.padding}" if self.padding else "")
        return f"{type(self).__name__}({self.c_in}, {self.c_out}, kernel_size={k}{extra})"


class FAConv2d(Conv2d):
    """2-D convolution trained by feedback alignment (Lillicrap et al. 2016,
    "Random synaptic feedback weights support error backpropagation for deep
    learning", Nat. Commun. 7:13276), as applied to convolutional nets by
    Liao, Leibo & Poggio 2016 ("How important is weight symmetry in
    backpropagation?", AAAI) and Moskovitz, Litwin-Kumar & Abbott 2018
    ("Feedback alignment in deep convolutional networks", arXiv:1812.06488).

    Forward and weight gradients are those of ``Conv2d``; only the error sent
    down changes, through a fixed random filter bank ``B`` in place of ``W``:

        dcols = B_mat.T @ delta_mat     (K, c_out) @ (c_out, m) -> (K, m)
        delta_in = col2im(dcols)        (K, m) -> (n, c_in, h, w)

    ``B`` (c_out, c_in, kh, kw), ``B_mat = B.reshape(c_out, K)``, is drawn like
    ``W`` from ``feedback_rng``, on the same device and dtype. It is never
    trained and is not a parameter.
    """

    feedback_names = ("B",)
    feedback_steps = (("dcols_{l} = B_mat_{l}.T @ delta_mat_{l}",
                       "{cols} = {B_mat.T} @ {delta_mat}"),)

    def __init__(self, c_in, c_out, kernel_size, stride=1, padding=0, *, rng=None,
                 feedback_rng=None, dtype="float32", backend=None):
        super().__init__(c_in, c_out, kernel_size, stride, padding, rng=rng, dtype=dtype,
                         backend=backend)
        fb = as_rng(feedback_rng)
        self.B = glorot_uniform(fb, self.W.shape, self.dtype, self.backend)

    def feedback(self, delta):
        dcols = self.B.reshape(self.c_out, -1).T @ self.to_mat(delta)  # BP: W_mat.T @ ...
        return self.col2im(dcols)  # (K, m) -> (n, c_in, h, w)


class MaxPool2d(Layer):
    """Non-overlapping max pooling over k x k windows (stride = k):

        z[i, c, r, s] = max_{p,q < k} x[i, c, k*r + p, k*s + q]   (n, c, h, w) -> (n, c, h/k, w/k)
        delta_in[i, c, k*r + p, k*s + q] = delta[i, c, r, s] if (p, q) is the first
            maximum of window (r, s) in row-major order, else 0

    Ties send the whole delta to the first maximum (what ``argmax`` picks), so
    no error is counted twice. Both directions walk the k*k window offsets
    (p, q): ``x[:, :, p::k, q::k]`` (n, c, h/k, w/k) holds entry (p, q) of every
    window, so the maximum is an elementwise maximum over k*k such views.
    No parameters; the same under every rule.
    """

    cache_names = ("x", "z")
    backward_expr = "{d} to the first maximum of each {layer.k}x{layer.k} window, 0 elsewhere"

    def __init__(self, kernel_size=2, stride=None):
        self.k = int(kernel_size)
        stride = self.k if stride is None else int(stride)
        if self.k < 1 or stride != self.k:
            raise InputError(f"MaxPool2d(kernel_size={kernel_size}, stride={stride}): only "
                             "non-overlapping pooling is supported; leave stride unset")

    def forward(self, x):
        k = self.k
        get_array_module(x)  # a BackendError for anything that is not an array
        if x.ndim != 4 or x.shape[2] % k or x.shape[3] % k:
            raise InputError(f"{self!r} expects (batch, channels, h, w) input with h and w "
                             f"divisible by {k}, got {tuple(x.shape)}: crop or pad the images")
        xp = get_array_module(x)
        self.x = x
        z = fast.max_pool(x, k)  # the lines below as one CPU loop, where there is one
        if z is None:
            z = x[:, :, 0::k, 0::k]  # (n, c, h/k, w/k): the window entries at offset (0, 0)
            for p, q in self.offsets()[1:]:
                z = xp.maximum(z, x[:, :, p::k, q::k])  # z = max over the window
        self.z = z
        return z

    def bp_feedback(self, delta):
        xp, k = get_array_module(delta), self.k
        fused = fast.max_pool_backward(self.x, self.z, delta, k)  # the lines below, one CPU loop
        if fused is not None:
            return fused
        # (n, c, h, w), every entry set below, laid out as x (a conv's maps are channel by
        # channel): mixed layouts would make each strided line below a transposing copy
        dx = xp.empty_like(self.x, dtype=delta.dtype)
        free = xp.ones_like(self.z, dtype=bool)  # windows whose first maximum is still to come
        for p, q in self.offsets():
            is_max = self.x[:, :, p::k, q::k] == self.z  # (n, c, h/k, w/k)
            first = is_max & free
            dx[:, :, p::k, q::k] = first * delta  # delta goes to the first maximum only
            free &= xp.logical_not(is_max)
        return dx

    def offsets(self):
        """The window offsets (p, q) in row-major order."""
        return [(p, q) for p in range(self.k) for q in range(self.k)]

    def __repr__(self):
        return f"MaxPool2d({self.k})"


class Flatten(Layer):
    """(n, c, h, w) -> (n, c*h*w); the delta goes back to (n, c, h, w)."""

    backward_expr = "{d}.reshape{shape}"  # for explain()

    def forward(self, x):
        get_array_module(x)  # a BackendError for anything that is not an array
        if x.ndim < 2:
            raise InputError(f"Flatten expects (batch, ...) input, got shape {tuple(x.shape)}")
        self.x_shape = x.shape
        return x.reshape(x.shape[0], -1)

    def bp_feedback(self, delta):
        return delta.reshape(self.x_shape)

    def __repr__(self):
        return "Flatten()"


class Reshape(Layer):
    """(n, prod(shape)) -> (n, *shape); the delta goes back to (n, prod(shape)).

    Put ``Reshape((1, 28, 28))`` first in a conv net to feed it a DataLoader's
    (n, 784) rows; ``n_in`` tells the training loop the row width it expects.
    """

    backward_expr = "{d}.reshape{shape}"  # for explain()

    def __init__(self, shape):
        self.shape = tuple(int(s) for s in shape)
        self.n_in = math.prod(self.shape)
        if not self.shape or min(self.shape) < 1:
            raise InputError(f"Reshape({shape}): give a non-empty shape of positive sizes")

    def forward(self, x):
        get_array_module(x)  # a BackendError for anything that is not an array
        if x.ndim != 2 or x.shape[1] != self.n_in:
            raise InputError(f"{self!r} expects input of shape (batch, {self.n_in}), got "
                             f"{tuple(x.shape)}: pass the images as flat rows")
        return x.reshape(x.shape[0], *self.shape)

    def bp_feedback(self, delta):
        return delta.reshape(delta.shape[0], self.n_in)

    def __repr__(self):
        return f"Reshape({self.shape})"
