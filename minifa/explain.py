"""The backward pass a model's rule applies, written out with real shapes."""


def _shape(*dims):
    return "(" + ",".join(str(d) for d in dims) + ")"


def explain(model, batch_size=64, loss=None):
    """Lines of text: per dense layer, top first, the equation of the delta it
    receives and of its weight gradient, with the shapes for ``batch_size``.

    E.g. ``delta_1 = (delta_2 @ B_2) * 1[z_1 > 0]   (64,128) = (64,64) @ (64,128) * (64,128)``
    """
    n = int(batch_size)
    layers = model.layers
    dense = [i for i, layer in enumerate(layers) if hasattr(layer, "n_out") and layer.param_names]
    top = len(dense)
    k = layers[dense[-1]].n_out
    error = getattr(loss, "error_expr", "softmax(z) - onehot(y)").replace("z", f"z_{top}")
    lines = [f"e = {error};  delta_{top} = e / n    {_shape(n, k)}"]
    for rank in range(top, 0, -1):
        layer = layers[dense[rank - 1]]
        below = "x" if rank == 1 else f"h_{rank - 1}"
        lines.append(f"dW_{rank} = {below}.T @ delta_{rank}    {_shape(layer.n_in, layer.n_out)}"
                     f" = {_shape(n, layer.n_in)}.T @ {_shape(n, layer.n_out)}")
        note = getattr(layer, "feedback_note", None)
        if note:
            lines.append("  " + note.format(l=rank))
        if rank == 1:
            lines.append("  (nothing below layer 1: its feedback is never computed)")
            break
        lines.append(_delta_line(layers, dense, rank, n, k))
    return lines


def _delta_line(layers, dense, rank, n, k):
    """delta_{rank-1} = (feedback of layer rank) * f'(z_{rank-1})."""
    upper = layers[dense[rank - 1]]
    expr = getattr(upper, "feedback_expr", "{d} @ ?").format(d=f"delta_{rank}", l=rank)
    source = expr.split(" @ ")[0]
    left = _shape(n, k) if source in ("e", "y*") else _shape(n, upper.n_out)
    B = getattr(upper, "B", None)
    matrix = _shape(*B.shape) if B is not None and expr.endswith(f"B_{rank}") else \
        _shape(upper.n_out, upper.n_in)
    width = upper.n_in
    between = layers[dense[rank - 2] + 1:dense[rank - 1]]
    derivatives = [getattr(a, "derivative_expr", "f'(z_{l})").format(l=rank - 1)
                   for a in between if not a.param_names]
    lhs = f"delta_{rank - 1} = ({expr})"
    shapes = f"{_shape(n, width)} = {left} @ {matrix}"
    for d in derivatives:
        lhs += f" * {d}"
        shapes += f" * {_shape(n, width)}"
    return f"{lhs}    {shapes}"
