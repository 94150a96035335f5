"""What the example scripts share: flags, data loading, the epoch table, exit codes."""

import argparse
import math
import os
import sys
import tempfile
from contextlib import contextmanager

from . import checkpoint as ckpt
from .backend import get_backend
from .data import CHOICES, DATASETS, DataLoader, load_dataset
from .diagnostics import Diagnostics, angle_columns
from .errors import InputError, MinifaError, TrainingStopped
from .fileio import atomic_write
from .seeding import streams
from .threads import lowered, setting
from .training import train

COLUMNS = [("epoch", 5, "d"), ("loss_train", 10, ".4f"), ("loss_test", 10, ".4f"),
           ("acc_train", 9, ".4f"), ("acc_test", 8, ".4f"), ("seconds", 8, ".3f")]


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """``--help`` keeps the description's own lines and shows each flag's default."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "default" in text or any(action.default is v for v in (None, False,
                                                                   argparse.SUPPRESS)):
            return text
        return f"{text} (default: %(default)s)".lstrip()


def parser(doc):
    """An ArgumentParser whose ``--help`` shows the whole of ``doc`` and the defaults."""
    return argparse.ArgumentParser(description=doc, formatter_class=HelpFormatter)


def positive(kind):
    """An argparse type: a number of ``kind`` above zero."""
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            what = "an integer" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value

    return parse


def non_negative(text):
    """An argparse type: an integer of 0 or more (a seed)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def threads(text):
    """An argparse type: a positive number of BLAS threads, or auto."""
    try:
        return setting(text)
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc).replace("threads must", "must")) from None


def add_common_arguments(p, epochs=10):
    """--backend --epochs --batch-size --keep-last --lr --seed --dtype --data --data-dir --csv
    --threads."""
    p.add_argument("--backend", default=None,
                   help="numpy or cupy (default: $MINIFA_BACKEND, else numpy)")
    p.add_argument("--epochs", type=positive(int), default=epochs, help="passes over the data")
    p.add_argument("--batch-size", type=positive(int), default=64, help="samples per step")
    p.add_argument("--keep-last", action="store_true",
                   help="train on the last, smaller batch of each epoch too (default: drop it, "
                        "so every step sees --batch-size samples)")
    p.add_argument("--lr", type=positive(float), default=3e-4, help="learning rate")
    p.add_argument("--seed", type=non_negative, default=0,
                   help="seeds weights, feedback, shuffling and mnist-small's split")
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"],
                   help="float type of weights and batches")
    p.add_argument("--data", default="auto", choices=CHOICES,
                   help="dataset (auto: full MNIST if its files are present, else the embedded "
                        "subset; see docs/datasets.md)")
    p.add_argument("--data-dir", default=None, metavar="DIR",
                   help="folder holding the dataset's files, where missing ones are downloaded "
                        "(default: ~/.cache/minifa/NAME; for MNIST $MINIFA_DATA first)")
    p.add_argument("--csv", default=None, metavar="PATH", help="also write the history here")
    p.add_argument("--threads", type=threads, default=None, metavar="N",
                   help="BLAS threads per training step: a number, or auto to use the cores "
                        "other processes leave free (default: $MINIFA_THREADS, else auto); the "
                        "same seed and thread setting give the same run, another count can "
                        "change the last digits")


def add_run_arguments(p):
    """--checkpoint --resume --checkpoint-every --diagnostics --plot: what ``run_training``
    serves, the same in every example."""
    p.add_argument("--checkpoint", default=None, metavar="PATH",
                   help="save the whole training state here after every epoch (and on Ctrl-C); "
                        "an existing one is continued only with --resume")
    p.add_argument("--resume", action="store_true",
                   help="continue from --checkpoint exactly where it stopped (if it does not "
                        "exist yet, say so and start fresh)")
    p.add_argument("--checkpoint-every", type=positive(int), default=None, metavar="STEPS",
                   help="also save every STEPS minibatches")
    p.add_argument("--diagnostics", action="store_true",
                   help="after each epoch, each layer's angle (degrees) between the delta the "
                        "rule delivered and BP's (columns d1 d2 ..., layer 1 = the first "
                        "layer with weights) and between W.T and B (w2 w3 ...), measured on "
                        "the first 1,000 test images; 90 = unaligned, 0 = BP")
    p.add_argument("--plot", default=None, metavar="PATH",
                   help="save learning curves here (and, with --diagnostics, the alignment "
                        "beside it as STEM-alignment.EXT); any format matplotlib writes")


def check_output(flag, path):
    """Refuse, before any work, an output path that could not be written at the end:
    a folder, a missing or read-only folder. Writes nothing."""
    if not path:
        return
    if os.path.isdir(path):
        raise InputError(f"{flag} {path} is a folder; name a file in it instead")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise InputError(f"{flag} {path}: its folder does not exist; create it first")
    try:  # a real probe: os.access says yes to root on read-only mounts
        fd, probe = tempfile.mkstemp(prefix=".minifa-probe-", dir=folder)
    except OSError as exc:
        raise InputError(f"{flag} {path}: cannot write in {folder} ({exc.strerror}); "
                         "choose another folder") from None
    os.close(fd)
    os.unlink(probe)


def plot_formats():
    """The file extensions matplotlib can write; InputError without matplotlib."""
    try:
        import matplotlib  # noqa: F401  (first: its absence is what ImportError reports)
        from matplotlib.backends.backend_agg import FigureCanvasAgg
    except ImportError:
        raise InputError("--plot needs matplotlib: pip install matplotlib") from None
    return sorted(FigureCanvasAgg.get_supported_filetypes())


def check_outputs(args):
    """Every output and checkpoint flag of ``args``, checked before data or training."""
    outputs = {f"--{flag.replace('_', '-')}": getattr(args, flag, None)
               for flag in ("csv", "plot", "checkpoint")}
    for flag, path in outputs.items():
        check_output(flag, path)
    named = [(flag, os.path.abspath(path)) for flag, path in outputs.items() if path]
    for i, (flag, path) in enumerate(named):
        for other, same in named[i + 1:]:
            if path == same:
                raise InputError(f"{flag} and {other} name the same file {path}; "
                                 "give each its own")
    if outputs["--plot"]:
        ext = os.path.splitext(args.plot)[1][1:].lower()
        formats = plot_formats()
        if ext and ext not in formats:
            raise InputError(f"--plot {args.plot}: matplotlib cannot write .{ext} files; use "
                             f"one of .{', .'.join(formats)}")
    checkpoint = outputs["--checkpoint"]
    if (getattr(args, "resume", False) or getattr(args, "checkpoint_every", None)) \
            and not checkpoint:
        raise InputError("--resume and --checkpoint-every need --checkpoint PATH")
    if checkpoint and not args.resume and os.path.exists(checkpoint):
        raise InputError(f"--checkpoint {checkpoint} already holds a training state: add "
                         "--resume to continue it, or delete it (or name another file) to "
                         "start afresh")


def sizes(text):
    """An argparse type: comma-separated layer widths, e.g. 784,500,10."""
    try:
        widths = [int(w) for w in text.replace(" ", "").split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a comma-separated list of integers (e.g. 784,128,64,10)") from None
    if len(widths) < 2 or min(widths) < 1:
        raise argparse.ArgumentTypeError(
            f"give at least two positive widths, input to output (e.g. 784,128,64,10), got {text}")
    return widths


def add_sizes_argument(p, hidden=(128, 64)):
    """--sizes: an MLP's widths from input to output."""
    default = ",".join(["FEATURES", *map(str, hidden), "CLASSES"])
    p.add_argument("--sizes", type=sizes, default=None, metavar="W0,...,WL",
                   help=f"MLP widths from input to output, e.g. 784,500,10 (default: {default}, "
                        "from the dataset)")
    p.set_defaults(hidden=list(hidden))


def data_name(args):
    """The dataset the flags name: a named --data-dir makes "auto" full MNIST."""
    if args.data == "auto" and args.data_dir is not None:
        return "mnist"  # a folder was named: use it, and say so if it is incomplete
    return args.data


def data_shape(args):
    """(image_shape, classes) of the dataset the flags name, known before it is loaded."""
    image_shape, n_classes = DATASETS["mnist" if args.data == "auto" else args.data][:2]
    return tuple(image_shape), n_classes


def mlp_sizes(args):
    """The MLP widths: --sizes, checked against the dataset before anything loads,
    else the dataset's feature count, the example's hidden widths, its classes."""
    image_shape, n_classes = data_shape(args)
    features = math.prod(image_shape)
    if args.sizes is None:
        return [features, *args.hidden, n_classes]
    name = data_name(args)
    if args.sizes[0] != features:
        raise InputError(f"--sizes starts at {args.sizes[0]} but {name} images have {features} "
                         f"values ({'x'.join(map(str, image_shape))}): start at {features}")
    if args.sizes[-1] != n_classes:
        raise InputError(f"--sizes ends at {args.sizes[-1]} but {name} has {n_classes} classes: "
                         f"end at {n_classes}")
    return list(args.sizes)


def load_data(args):
    """The dataset the flags ask for (pixels kept as uint8), saying which it is and,
    when it is not what was asked for, why."""
    data = data_name(args)
    if args.data_dir is not None and DATASETS[data][2]:
        raise InputError(f"--data {data} is embedded and reads no folder, but --data-dir "
                         f"{args.data_dir} was given: drop one of the two")
    ds = load_dataset(data, data_dir=args.data_dir, seed=args.seed, scaled=False)
    print(f"data: {ds.source}")
    if ds.note:
        print(f"note: {ds.note}")
    dropped_notice(len(ds.y_train), args)
    return ds


def dropped_notice(n, args):
    """Say so once when the dropped last batch leaves out 1% or more of the samples."""
    dropped = 0 if getattr(args, "keep_last", False) else n % args.batch_size
    if n >= args.batch_size and dropped >= 0.01 * n:
        print(f"note: batch size {args.batch_size} leaves out {dropped} of the {n} training "
              "samples each epoch (others each time); --keep-last keeps them as a smaller batch")


def loaders(ds, args, backend):
    """The training DataLoader and the test pair, both on ``backend``.

    Pixels stay uint8 (47 MB for full MNIST, not 188) and are scaled per batch.
    """
    loader = train_loader(ds, args, backend)
    return loader, test_set(ds, loader)


def train_loader(ds, args, backend):
    """The shuffled training DataLoader (uint8 pixels, divided by ``ds.scale`` per batch)."""
    return DataLoader(ds.x_train, ds.y_train, batch_size=args.batch_size,
                      drop_last=not getattr(args, "keep_last", False),
                      seed=streams(args.seed).shuffle, backend=get_backend(backend),
                      scale=ds.scale, dtype=args.dtype)


def test_set(ds, loader):
    """The test pair on ``loader``'s backend, scaled as its batches are."""
    backend = loader.backend
    return loader.features(backend.asarray(ds.x_test)), backend.asarray(ds.y_test)


class EpochTable:
    """Prints the history's header, then one row per epoch as it finishes;
    ``extra`` columns (e.g. alignment angles) go on the right as 6.1f."""

    def __init__(self, extra=()):
        self.extra = list(extra)

    def header(self):
        names = "".join(f" {name if name != 'seconds' else 's/epoch':>{w}}"
                        for name, w, _ in COLUMNS)
        print(names[1:] + "".join(f" {label:>6}" for label in self.labels()))

    def labels(self):
        return [c[0] + c.rsplit("_", 1)[1] for c in self.extra]  # delta_angle_2 -> d2

    def __call__(self, row):
        cells = "".join(f" {row[name]:>{w}{fmt}}" for name, w, fmt in COLUMNS)
        angles = "".join(f" {row.get(c, float('nan')):>6.1f}" for c in self.extra)
        print(cells[1:] + angles, flush=True)


def saved_state(args, model, optimizer, loader):
    """The meta of the checkpoint ``--resume`` continues, checked against this run, or
    None; says which it is."""
    path = getattr(args, "checkpoint", None)
    if not (path and getattr(args, "resume", False)):
        return None
    if not os.path.exists(path):
        print(f"no checkpoint at {path}; starting fresh (training saves there as it goes)")
        return None
    meta = ckpt.check(path, model, optimizer, loader)
    done = epochs_done(meta)
    where = f"after epoch {done}" if done == meta["epoch"] else \
        f"in epoch {meta['epoch']} after step {meta['step']} of {meta['steps_per_epoch']}"
    print(f"resuming from {path} ({where})")
    return meta


def epochs_done(meta):
    """Whole epochs a checkpoint's run has finished."""
    return meta["epoch"] - (meta["step"] < meta["steps_per_epoch"])


def train_and_report(model, optimizer, loader, test, args, extra=(), after_epoch=None,
                     outputs=None, **train_kwargs):
    """``train`` with the epoch table printed as it goes and ``--csv`` written at the
    end, or with the epochs so far when training stops early (Ctrl-C, divergence);
    ``after_epoch(row)`` runs before each row is printed, ``outputs(history)`` writes
    any other files at the end. A resumed run prints its saved rows first; one that
    has already run ``--epochs`` epochs says so and shows them."""
    table = EpochTable(extra)
    meta = saved_state(args, model, optimizer, loader)
    done = epochs_done(meta) if meta else 0
    if done < args.epochs:
        table.header()
        for row in meta["history"] if meta else []:
            table(row)

    def on_epoch(row):
        if after_epoch is not None:
            after_epoch(row)
        table(row)

    def write(history):
        if args.csv:
            write_csv(history, args.csv)
        if outputs is not None:
            outputs(history)

    try:
        history = train(model, optimizer, loader, epochs=args.epochs, test=test,
                        on_epoch=on_epoch, threads=getattr(args, "threads", None),
                        **train_kwargs)
    except TrainingStopped as exc:
        if exc.history is not None and len(exc.history):
            write(exc.history)  # the finished epochs are kept
        raise
    if done >= args.epochs:
        more = "" if done == args.epochs else f", more than --epochs {args.epochs}"
        print(f"already trained {done}/{args.epochs} epochs{more}: nothing to do (a larger "
              "--epochs trains on); the saved history:")
        table.header()
        for row in history.to_dict("records"):
            table(row)
    write(history)
    return history


@contextmanager
def busy_note():
    """After the block, say so if auto ran some of its steps on fewer BLAS threads
    because other processes kept the cores busy."""
    busy = lowered()
    try:
        yield
    finally:
        if lowered() > busy:
            print("note: other processes kept the cores busy, so some steps ran on fewer "
                  "BLAS threads (--threads auto); the last digits can differ from a quiet "
                  "run's: give --threads N to repeat a run to the bit")


def write_csv(history, path):
    with atomic_write(path, "w") as f:
        history.to_csv(f, index=False)
    n = len(history)
    print(f"history ({n} epoch{'s' * (n != 1)}) written to {path}")


def recipe(args, rule, optimizer, ds):
    """What a figure's title must say to be reproduced: rule, optimizer, lr, decay,
    batch, epochs, seed and data."""
    decay = getattr(optimizer, "weight_decay", 0.0)
    decay = f"{decay:g}" if isinstance(decay, float) else repr(decay)
    return (f"{rule.upper()}, {type(optimizer).__name__} lr {optimizer.lr:g}, decay {decay}, "
            f"batch {args.batch_size}, {args.epochs} epoch{'s' * (args.epochs != 1)}, "
            f"seed {args.seed}, {ds.name}")


def plot(history, path, title, diagnostics=None, steps_per_epoch=None):
    """Learning curves at ``path``; with diagnostics, the alignment beside it (every
    record, the one before training at epoch 0). Returns the paths written."""
    from . import plots

    plots.learning_curves(history, path, title)
    written = [path]
    if diagnostics is not None and diagnostics.records:
        stem, ext = os.path.splitext(path)
        written.append(f"{stem}-alignment{ext or '.png'}")
        plots.alignment(history, written[-1], title, records=diagnostics.frame(),
                        steps_per_epoch=steps_per_epoch)
    return written


def run_training(model, optimizer, ds, args, backend, rule, after_epoch=None, loss=None):
    """What every example does once its model and optimizer exist: loaders, the
    ``add_run_arguments`` flags (checkpoint, resume, diagnostics, plot), the table
    and the outputs. Returns the history."""
    loader, test = loaders(ds, args, backend)
    diagnostics, extra = None, []
    if args.diagnostics:
        diagnostics = Diagnostics(test[0][:1000], test[1][:1000], loss=loss)
        extra = angle_columns(model)

    def outputs(history):
        if args.plot:
            written = plot(history, args.plot, recipe(args, rule, optimizer, ds), diagnostics,
                           len(loader))
            print(f"figures written to {', '.join(written)}")

    return train_and_report(model, optimizer, loader, test, args, extra=extra,
                            after_epoch=after_epoch, outputs=outputs, diagnostics=diagnostics,
                            loss=loss,
                            checkpoint=args.checkpoint, resume=args.resume,
                            checkpoint_every=args.checkpoint_every)


def main(run, parse_args, argv=None):
    """Check the outputs and the threads, then run ``run(args)``; a MinifaError becomes
    one line on stderr and exit 2, an interrupt exit 130."""
    args = parse_args(argv)
    try:
        check_outputs(args)
        if hasattr(args, "threads"):
            setting(args.threads)  # a bad $MINIFA_THREADS too, before any data loads
        with busy_note():  # a busy machine may have moved the last digits: say so
            run(args)
    except TrainingStopped as exc:
        print(f"{'stopped' if exc.interrupted else 'error'}: {exc}", file=sys.stderr)
        return 130 if exc.interrupted else 2
    except MinifaError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
