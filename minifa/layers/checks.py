"""Where input enters a layer: its shape, dtype and device, checked on the Python
side only (reading no values, so no sync), each failure one line that says what
to do."""

from ..errors import InputError


def check_input(layer, x):
    """Shape, dtype and device of a layer's input; Python-side checks only (no sync)."""
    check_device(layer, x)
    if x.ndim != 2 or x.shape[1] != layer.n_in:
        raise InputError(
            f"{layer!r} expects input of shape (batch, {layer.n_in}), got {tuple(x.shape)}: "
            "flatten images to rows and check the first layer's width"
        )
    check_dtype_of(layer, x)


def check_device(layer, x):
    if not layer.backend.owns(x):
        layer.backend.check(x, f"input of {layer!r}")


def check_dtype_of(layer, x):
    if x.dtype != layer.dtype:
        raise InputError(
            f"{layer!r} holds {layer.dtype.name} weights but got {x.dtype.name} input: "
            f"convert the data once with .astype('{layer.dtype.name}')"
        )


def check_image(layer, x):
    """Shape, dtype and device of a conv layer's input; Python-side checks only (no sync)."""
    check_device(layer, x)
    if x.ndim != 4 or x.shape[1] != layer.c_in:
        raise InputError(
            f"{layer!r} expects input of shape (batch, {layer.c_in}, h, w), got "
            f"{tuple(x.shape)}: feed flat rows through Reshape((channels, h, w)) first "
            "and check the previous layer's channel count"
        )
    h, w = x.shape[2] + 2 * layer.padding, x.shape[3] + 2 * layer.padding
    if h < layer.kh or w < layer.kw:
        raise InputError(f"{layer!r}: the {x.shape[2]}x{x.shape[3]} input (padded "
                         f"{h}x{w}) is smaller than the {layer.kh}x{layer.kw} kernel; "
                         "use larger images or more padding")
    check_dtype_of(layer, x)
