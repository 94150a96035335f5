"""The backward pass a model's rule applies, written out with real shapes.

``explain`` walks a Sequential down from the loss. Layers with parameters are
numbered as in minifa.diagnostics (layer l = the l-th from the input) and
print the text their class carries (the Layer protocol, layers/base.py):
their weight gradient, then the delta they send down. Between two of them,
elementwise layers fold into that delta's line as a factor, and layers that
only move the delta (reshape, pooling) get a line each. The shapes come from
one forward pass on zeros.
"""

import copy

from .errors import InputError
from .init import zeros
from .losses import SoftmaxCrossEntropy
from .seeding import generators


class Shape(tuple):
    """An array's shape as a line prints it, ``(64,10)``; ``.T`` reverses it."""

    def __str__(self):
        return "(" + ",".join(str(d) for d in self) + ("," if len(self) == 1 else "") + ")"

    @property
    def T(self):
        return Shape(reversed(self))


def explain(model, batch_size=64, loss=None):
    """Lines of text, loss first: for every layer down to the first with
    parameters, the equations its backward pass computes, each with the shapes
    for ``batch_size``, e.g.

        delta_1 = (delta_2 @ B_2) * 1[z_1 > 0]    (64,128) = (64,64) @ (64,128) * (64,128)

    ``loss`` (default softmax cross-entropy) names the output error.
    """
    n = int(batch_size)
    layers = model.layers
    trained = [i for i, layer in enumerate(layers) if layer.param_names]
    if not trained:
        raise InputError("explain: this model has no layer with parameters to train")
    shapes = forward_shapes(model, n)
    k = shapes[-1][1][-1]
    error = getattr(loss or SoftmaxCrossEntropy(), "error_expr", "n dL/dz")
    top = len(trained)
    if trained[-1] == len(layers) - 1:  # the last layer's z meets the loss
        lines = [f"e = {error.replace('z', f'z_{top}')};  delta_{top} = e / n    {Shape((n, k))}"]
        path = None
    else:
        lines = [f"e = {error}    {Shape((n, k))}"]
        path = _Path("e / n", str(Shape((n, k))), Shape((n, k)), f"dh_{top}")
    for i in reversed(range(trained[0], len(layers))):
        layer, x, z = layers[i], Shape(shapes[i][0]), Shape(shapes[i][1])
        if not layer.param_names:
            path.down(layer, x, below=sum(j < i for j in trained))
            continue
        rank = trained.index(i) + 1
        if path is not None:
            lines += path.end(f"delta_{rank}")
        names = {"l": rank, "d": f"delta_{rank}", "x": "x" if rank == 1 else f"h_{rank - 1}",
                 "layer": layer}
        sizes = _sizes(layer, x, z, Shape((n, k)))
        lines += [_line(eq, sh, names, sizes) for eq, sh in layer.grads_expr]
        if not layer.grads_expr and layer.feedback_expr is None:
            lines.append(_unknown(layer))
        if rank == 1:
            lines.append("  (nothing below layer 1: its feedback is never computed)")
            break
        if layer.feedback_note:
            lines.append("  " + layer.feedback_note.format(**names))
        lines += [_line(eq, sh, names, sizes) for eq, sh in layer.feedback_steps]
        if layer.feedback_expr is None:
            path = _Path(f"{type(layer).__name__}.feedback(delta_{rank})", f"feedback({z})",
                         x, f"dh_{rank - 1}")
        else:
            path = _Path(layer.feedback_expr.format(**names),
                         (layer.feedback_shapes or "feedback({d})").format(**sizes), x,
                         f"dh_{rank - 1}")
    return lines


class _Path:
    """The signal on its way down to the next layer with parameters: the
    expression not yet written (``expr``, beside it ``sizes``), its shape, the
    name it goes by between lines, and the lines written so far."""

    def __init__(self, expr, sizes, shape, name):
        self.expr, self.sizes, self.shape, self.name = expr, sizes, shape, name
        self.factors = []
        self.lines = []  # [lhs, text]

    def down(self, layer, x, below):
        """Through ``layer``, a layer without parameters whose input has shape ``x``
        and which sits above layer number ``below``."""
        if layer.derivative_expr is not None:  # elementwise: one more factor
            self.factors.append(layer.derivative_expr.format(l=below))
            return
        self.settle()
        if layer.backward_expr is None:
            self.lines.append([None, f"{_unknown(layer)}    {self.shape} -> {x}"])
        else:
            expr = layer.backward_expr.format(d=self.name, shape=x, layer=layer)
            self.lines.append([self.name, f"{expr}    {self.shape} -> {x}"])
        self.shape, self.sizes = x, str(x)

    def settle(self):
        """Write the pending expression out as ``name = ...``; it goes by name after."""
        if self.expr != self.name or self.factors:
            self.lines.append([self.name, self.text()])
        self.expr, self.sizes, self.factors = self.name, str(self.shape), []

    def text(self):
        expr, sizes = self.expr, self.sizes
        if self.factors:
            expr = f"({expr})" if " " in expr else expr
            expr += "".join(f" * {f}" for f in self.factors)
            sizes += f" * {self.shape}" * len(self.factors)
        return f"{expr}    {self.shape} = {sizes}"

    def end(self, lhs):
        """The lines, the last one naming ``lhs`` (the delta of the layer reached)."""
        if self.expr != self.name or self.factors:
            self.lines.append([lhs, self.text()])
        elif self.lines[-1][0] == self.name:
            self.lines[-1][0] = lhs  # the last line already made it: give it the delta's name
        else:
            self.lines.append([lhs, f"{self.name}    {self.shape}"])
        return [text if name is None else f"{name} = {text}" for name, text in self.lines]


def _sizes(layer, x, z, e):
    """What a layer's shapes strings read: {x}, {d}, {e}, its arrays, its explain_shapes."""
    sizes = {"x": x, "d": z, "e": e, "layer": layer}
    for name in (*layer.param_names, *layer.feedback_names):
        if hasattr(getattr(layer, name, None), "shape"):
            sizes[name] = Shape(getattr(layer, name).shape)
    for name, shape in layer.explain_shapes(x, z).items():
        sizes[name] = Shape(shape)
    return sizes


def _line(eq, sh, names, sizes):
    return f"{eq.format(**names)}    {sh.format(**sizes)}"


def _unknown(layer):
    return (f"{type(layer).__name__}: no equation text (define feedback_expr / derivative_expr "
            "to show one)")


def forward_shapes(model, n):
    """``[(input shape, output shape)]`` of every layer of ``model`` for a batch
    of ``n`` rows, from one forward pass on zeros through shallow copies of the
    layers, each with copies of its random generators: the layers keep their
    caches and generators as they were. (An array a forward writes in place,
    like BinaryLinear's Wb, is rewritten by the next forward anyway.)"""
    x = zeros((n, model.n_in), model.dtype, model.backend)
    shapes = []
    for layer in model.layers:
        twin = copy.copy(layer)
        for name, g in generators(twin).items():
            setattr(twin, name, copy.deepcopy(g))
        z = twin.forward(x)
        shapes.append((tuple(x.shape), tuple(z.shape)))
        x = z
    return shapes
