"""A model's layers as a table: output shapes, trained values, feedback arrays."""

from .explain import forward_shapes


def feedback_arrays(layer):
    """The arrays a rule sends errors through that the optimizer does not train."""
    return [a for n in layer.feedback_names if n not in layer.param_names
            and hasattr(a := getattr(layer, n, None), "shape")]


def summary(model):
    """The table ``Sequential.summary`` returns."""
    rows, shapes = [], forward_shapes(model, 1)  # one sample through every layer
    n_params = n_param_arrays = n_feedback = n_feedback_arrays = 0
    for i, layer in enumerate(model.layers, 1):
        shape = shapes[i - 1][1][1:]  # the output's shape without the batch axis
        params = [p.value for p in layer.parameters()]
        feedback = feedback_arrays(layer)
        p, f = sum(a.size for a in params), sum(a.size for a in feedback)
        n_params, n_param_arrays = n_params + p, n_param_arrays + len(params)
        n_feedback, n_feedback_arrays = n_feedback + f, n_feedback_arrays + len(feedback)
        rows.append((str(i), repr(layer), "(n, " + ", ".join(map(str, shape)) + ")",
                     f"{p:,}", f"{f:,}"))
    head = ("#", "layer", "output shape", "trained", "feedback")
    widths = [max(len(r[k]) for r in [head, *rows]) for k in range(len(head))]
    align = ["<", "<", "<", ">", ">"]

    def line(cells):
        return "  ".join(f"{c:{a}{w}}" for c, a, w in zip(cells, align, widths)).rstrip()

    def arrays(n):
        return f"{n} array{'s' * (n != 1)}"

    first = model.first_trained
    unused = sum(a.size for a in feedback_arrays(model.layers[first])) \
        if first < len(model.layers) else 0
    rule = getattr(model, "rule", None)
    out = [f"Sequential: rule {rule or 'unnamed'}, {model.dtype.name} on "
           f"{model.backend.name}, input (n, {model.n_in})", line(head),
           "-" * len(line(head)), *map(line, rows), "-" * len(line(head)),
           f"trained parameters: {n_params:,} in {arrays(n_param_arrays)}; feedback (not "
           f"trained by the optimizer): {n_feedback:,} in {arrays(n_feedback_arrays)}"]
    if unused:
        out.append(f"(layer {first + 1} sends no delta, nothing below needs it: its "
                   f"{unused:,} feedback values are kept but unused)")
    return "\n".join(out)
