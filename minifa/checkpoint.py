"""Whole training states in one ``.npz`` file, written atomically.

A checkpoint holds every layer's parameters and feedback matrices, any other
array a layer holds (a user rule's fixed noise, say; not the caches that
``forward`` rebuilds every step, nor gradients), the optimizer's state,
every random generator's state, the epoch and step, the rule and the
architecture, the history so far and the minifa version. Arrays
are stored as host NumPy arrays, so a file saved on CuPy loads on NumPy and
the other way round; the rest is JSON. Nothing is pickled.

Writes go to a hidden temporary file in the same folder, are flushed to disk,
then renamed over the old checkpoint: a process killed mid-save leaves the
previous checkpoint intact.
"""

import zipfile
import zlib

import numpy

from .backend import backend_of
from .errors import DataError, InputError, MinifaError
from .fileio import read_npz, write_npz
from .seeding import generators

FORMAT = 1


def _is_array(value):
    try:
        backend_of(value)
    except MinifaError:
        return False
    return hasattr(value, "shape")


def _holds_state(value):
    """True for a container with an array or a Generator somewhere inside."""
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple, set, frozenset)):
        return any(_holds_state(v) or _is_array(v) or isinstance(v, numpy.random.Generator)
                   for v in value)
    return False


def layer_arrays(layer):
    """``{name: array}`` of what a checkpoint keeps of ``layer``: its trained and
    feedback arrays first, then every other array attribute, except the caches
    ``forward`` rebuilds each step (``cache_names``) and the gradients."""
    named = list(dict.fromkeys([*layer.param_names, *layer.feedback_names]))
    skip = set(layer.cache_names) | {"d" + n for n in named}
    others = [n for n, v in vars(layer).items()
              if n not in skip and n not in named and _is_array(v)]
    return {n: getattr(layer, n) for n in named + others
            if getattr(layer, n, None) is not None}


def check_savable(model):
    """Refuse, before training, a layer whose state a checkpoint could not restore."""
    for i, layer in enumerate(model.layers):
        for name, value in vars(layer).items():
            if name not in layer.cache_names and _holds_state(value):
                raise InputError(
                    f"layer {i} ({type(layer).__name__}) holds arrays or generators inside "
                    f"its {type(value).__name__} attribute {name!r}, which a checkpoint cannot "
                    "restore: keep each as its own attribute, or name it in cache_names if "
                    "forward rebuilds it every step")


def architecture(model):
    """``[[layer, {array: shape}], ...]``: what a checkpoint must match."""
    return [[repr(layer), {n: list(a.shape) for n, a in layer_arrays(layer).items()
                           if n in layer.param_names or n in layer.feedback_names}]
            for layer in model.layers]


def settings(optimizer, loader):
    """The training settings a resumed run must share to continue the same run."""
    names = ("lr", "weight_decay", "b1", "b2", "eps", "momentum", "fast")
    # a decay schedule is recorded by its repr (WarmupDecay's names all its
    # settings) or, for a plain function, by its qualified name
    return {
        "optimizer": {n: _setting(getattr(optimizer, n)) for n in names if hasattr(optimizer, n)},
        "loader": {"batch_size": loader.batch_size, "shuffle": loader.shuffle,
                   "drop_last": loader.drop_last, "scale": loader.scale,
                   "samples": int(loader.x.shape[0]), "seed": _seed(loader.rng),
                   "labels": _checksum(loader.backend.to_host(loader.y))},
    }


# How a mismatch message names each setting: the Python argument, then the flag.
HINTS = {
    "lr": "learning rate (lr, --lr)", "weight_decay": "weight decay (weight_decay, "
    "--weight-decay)", "b1": "betas", "b2": "betas", "eps": "eps", "momentum": "momentum",
    "batch_size": "batch size (batch_size, --batch-size)",
    "drop_last": "last-batch handling (drop_last, --keep-last)", "shuffle": "shuffle",
    "scale": "scale", "samples": "training data (--data, --data-dir)",
    "seed": "seed (the DataLoader's seed, --seed)",
    "labels": "training data (--data, --data-dir)",
}


def _seed(rng):
    """The seed a Generator was made from (``streams(seed).shuffle`` or ``seed``), or None."""
    seed_seq = getattr(rng.bit_generator, "seed_seq", None)
    entropy = getattr(seed_seq, "entropy", None)
    return int(entropy) if isinstance(entropy, int) and entropy < 2**63 else None


def _checksum(y):
    """CRC-32 of the labels in order: the same training data, split and order."""
    return zlib.crc32(numpy.ascontiguousarray(y, dtype=numpy.int64).tobytes())


def _setting(value):
    if not callable(value):
        return value
    if hasattr(value, "max"):
        return repr(value)
    return f"{getattr(value, '__module__', '?')}.{getattr(value, '__qualname__', repr(value))}"


def _generators(model, loader):
    """Every random generator training reads, by a stable name."""
    found = {"loader": loader.rng}
    for i, layer in enumerate(model.layers):
        for name, g in generators(layer).items():
            found[f"layer{i}.{name}"] = g
    return found


def _optimizer_arrays(optimizer):
    return {name: getattr(optimizer, name) for name in optimizer.state_names}


def save(path, model, optimizer, loader, epoch, step, history, sums=None, seconds=0.0,
         records=None):
    """Write the training state after ``step`` batches of ``epoch`` to ``path``.

    ``sums`` are the epoch's running (loss, correct) totals when mid-epoch and
    ``seconds`` the time its steps took so far; ``records`` are the
    diagnostics' records (``Diagnostics.records``), if any.
    """
    from . import __version__

    check_savable(model)
    backend = loader.backend
    arrays = {}
    for i, layer in enumerate(model.layers):
        for name, a in layer_arrays(layer).items():
            arrays[f"layer{i}.{name}"] = backend.to_host(a)
    for name, a in _optimizer_arrays(optimizer).items():
        arrays[f"optimizer.{name}"] = backend.to_host(a)
    if sums is not None:
        for name, value in zip(("loss_sum", "correct_sum"), sums):
            arrays[f"epoch.{name}"] = numpy.asarray(
                backend.to_host(value) if hasattr(value, "shape") else value)
    meta = {
        "format": FORMAT,
        "minifa": __version__,
        "rule": getattr(model, "rule", None),
        "architecture": architecture(model),
        "dtype": model.dtype.name,
        "optimizer": {"class": type(optimizer).__name__, "t": optimizer.t},
        "settings": settings(optimizer, loader),
        "epoch": int(epoch),
        "step": int(step),
        "steps_per_epoch": len(loader),
        "rng": {name: g.bit_generator.state for name, g in _generators(model, loader).items()},
        "loader_epoch_rng": getattr(loader, "epoch_rng_state", None),
        "history": history,
        "seconds": float(seconds),
        "diagnostics": records,
    }
    write_npz(path, meta, arrays)


def read(path):
    """``(meta, arrays)`` from a checkpoint file; DataError if it is not a sound one."""
    try:
        meta, arrays = read_npz(path)
    except FileNotFoundError:
        raise DataError(f"checkpoint {path} does not exist; check the path, or train without "
                        "resuming first") from None
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, UnicodeDecodeError) as e:
        raise DataError(f"checkpoint {path} is truncated or corrupt ({type(e).__name__}); "
                        "delete it, or resume from another one") from None
    if meta.get("format") != FORMAT:
        raise DataError(f"checkpoint {path} has format {meta.get('format')!r}, this minifa "
                        f"reads format {FORMAT}")
    return meta, arrays


def load(path, model, optimizer, loader):
    """Restore a training state saved by ``save`` into ``model``, ``optimizer`` and
    ``loader`` (in place, on their backend). Returns the meta dict."""
    meta, arrays = read(path)
    _check_match(path, meta, model, optimizer, loader)
    for name, a in _optimizer_arrays(optimizer).items():  # checked before anything is restored
        saved = arrays.get(f"optimizer.{name}")
        if saved is None or saved.shape != a.shape:
            got = "none" if saved is None else f"{saved.size}"
            raise DataError(f"checkpoint {path} holds optimizer state for {got} values, this "
                            f"optimizer trains {a.size}: it was saved for other trained "
                            "arrays (another minifa version or model); start afresh")
    for i, layer in enumerate(model.layers):
        for name in layer_arrays(layer):
            if f"layer{i}.{name}" not in arrays:
                raise DataError(f"checkpoint {path} holds no array {name!r} for layer {i} "
                                f"({type(layer).__name__}), which this model has: it was "
                                "saved by other code; start afresh")
    backend = loader.backend
    for i, layer in enumerate(model.layers):
        prefix = f"layer{i}."
        for key, saved in arrays.items():
            if not key.startswith(prefix):
                continue
            a = getattr(layer, key[len(prefix):], None)
            if _is_array(a) and a.shape == saved.shape:
                a[...] = backend.asarray(saved)  # in place: views stay views
            else:  # state this layer makes only once it runs (or of another shape)
                setattr(layer, key[len(prefix):], backend.asarray(saved))
    for name, a in _optimizer_arrays(optimizer).items():
        a[...] = backend.asarray(arrays[f"optimizer.{name}"])
    optimizer.t = meta["optimizer"]["t"]
    for name, g in _generators(model, loader).items():
        g.bit_generator.state = meta["rng"][name]
    if meta["step"] % meta["steps_per_epoch"]:  # mid-epoch: replay this epoch's shuffle
        loader.rng.bit_generator.state = meta["loader_epoch_rng"]
        meta["sums"] = tuple(backend.asarray(arrays[f"epoch.{n}"])
                             for n in ("loss_sum", "correct_sum"))
    return meta


def check(path, model, optimizer, loader):
    """The meta dict of checkpoint ``path`` once it is known to fit ``model``,
    ``optimizer`` and ``loader`` (DataError naming the first difference); changes
    nothing."""
    meta, _ = read(path)
    _check_match(path, meta, model, optimizer, loader)
    return meta


def _check_match(path, meta, model, optimizer, loader):
    rule = getattr(model, "rule", None)
    if meta["rule"] != rule:
        raise DataError(f"checkpoint {path} was saved under rule {meta['rule']!r}, this model "
                        f"uses {rule!r}: build the model with the same rule (rule=, --rule)")
    saved, here = meta["architecture"], architecture(model)
    if saved != here:
        where = next((i for i, (a, b) in enumerate(zip(saved, here)) if a != b),
                     min(len(saved), len(here)))
        got = saved[where] if where < len(saved) else "nothing"
        want = here[where] if where < len(here) else "nothing"
        raise DataError(f"checkpoint {path} holds a different architecture: model.layers[{where}] "
                        f"is {got} there but {want} here; build the same model to resume")
    if meta["dtype"] != model.dtype.name:
        raise DataError(f"checkpoint {path} is {meta['dtype']}, this model "
                        f"{model.dtype.name}: build it with the same dtype (dtype=, --dtype)")
    if meta["optimizer"]["class"] != type(optimizer).__name__:
        raise DataError(f"checkpoint {path} was trained with {meta['optimizer']['class']}, not "
                        f"{type(optimizer).__name__}: resume with the same optimizer")
    here = settings(optimizer, loader)
    for part in ("loader", "optimizer"):  # seed before labels: another seed, another split
        names = sorted(meta["settings"][part], key=lambda n: n == "labels")
        for name in names:
            value = meta["settings"][part][name]
            if name not in here[part] or here[part][name] == value:
                continue
            if name == "labels":
                raise DataError(f"checkpoint {path} was trained on other labels (other data, "
                                f"another split or order): resume with the same {HINTS[name]}")
            raise DataError(f"checkpoint {path} was trained with {part} {name}={value!r}, "
                            f"this run has {here[part][name]!r}: resume with the same "
                            f"{HINTS.get(name, name)}")
    if meta["steps_per_epoch"] != len(loader):
        raise DataError(f"checkpoint {path} has {meta['steps_per_epoch']} steps per epoch, this "
                        f"data loader {len(loader)}: use the same data and batch size "
                        "(batch_size, --batch-size)")
