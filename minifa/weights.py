"""A model's weights and feedback in one ``.npz`` file, without training state.

What ``Sequential.save`` writes and ``load_weights`` reads: every layer's
trained arrays and feedback matrices (the arrays a checkpoint holds for the
model), the rule, the architecture and the dtype as JSON. No optimizer state,
no random generators, nothing pickled. Training checkpoints load too: they
hold the same arrays under the same names.
"""

import os
import zipfile

from .checkpoint import architecture, layer_arrays
from .errors import DataError, InputError
from .fileio import read_npz, write_npz

KIND = "minifa-weights"
FORMAT = 1


def save_weights(model, path):
    """Write ``model``'s weights and feedback to ``path`` (.npz), atomically."""
    from . import __version__

    if os.path.isdir(path):
        raise InputError(f"cannot save weights to {path}: it is a folder; name a file in it")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise InputError(f"cannot save weights to {path}: its folder does not exist; "
                         "create it first")
    backend = model.backend
    arrays = {f"layer{i}.{name}": backend.to_host(a)
              for i, layer in enumerate(model.layers) for name, a in layer_arrays(layer).items()}
    meta = {"kind": KIND, "format": FORMAT, "minifa": __version__,
            "rule": getattr(model, "rule", None), "architecture": architecture(model),
            "dtype": model.dtype.name}
    write_npz(path, meta, arrays)


def load_weights(model, path):
    """Copy the weights and feedback saved at ``path`` into ``model``, in place
    (an optimizer built on the model keeps working). The file must come from
    a model of the same rule and architecture; everything is checked before
    anything is copied. Returns ``model``."""
    try:
        meta, arrays = read_npz(path)
        saved = meta["architecture"]
    except FileNotFoundError:
        raise DataError(f"no weights file at {path}; save one with model.save(path)") from None
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile,
            UnicodeDecodeError) as e:
        raise DataError(f"{path} is not a minifa weights file, or is truncated or corrupt "
                        f"({type(e).__name__}); save the model again") from None
    rule = getattr(model, "rule", None)
    if meta.get("rule") != rule:
        raise DataError(f"{path} holds weights for rule {meta.get('rule')!r}, this model uses "
                        f"{rule!r}: build the model with the same rule")
    here = architecture(model)
    if saved != here:
        k = next((i for i, (a, b) in enumerate(zip(saved, here)) if a != b),
                 min(len(saved), len(here)))
        got = saved[k][0] if k < len(saved) else "nothing"
        want = here[k][0] if k < len(here) else "nothing"
        raise DataError(f"{path} holds another architecture: layer {k + 1} is {got} there but "
                        f"{want} here (shapes {saved[k][1] if k < len(saved) else {}} vs "
                        f"{here[k][1] if k < len(here) else {}}); build the same model")
    targets = [(f"layer{i}.{name}", a) for i, layer in enumerate(model.layers)
               for name, a in layer_arrays(layer).items()]
    lost = [key for key, _ in targets if key not in arrays]
    if lost:
        raise DataError(f"{path} lacks {', '.join(lost)}: it is damaged; save the model again")
    backend = model.backend
    for key, a in targets:
        a[...] = backend.asarray(arrays[key])  # in place: views stay views; cast to a's dtype
    return model
