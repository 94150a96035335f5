"""scikit-learn's embedded 8x8 digits (the UCI optical-digits test set): 1,797
grey images of 0..9 with pixels 0..16, offline; a second real dataset for
quick runs."""

import numpy

from ..errors import DataError
from .dataset import Dataset, pixels, stratified_split

SCALE = 16.0  # the pixels count 0..16 dark cells of a 4x4 block


def load_digits(seed=0, scaled=True):
    """The digits split a fifth of every class to test, seeded. Pixels stay
    uint8 0..16 unless ``scaled`` (then float32 x / 16 in [0, 1])."""
    try:  # lazy: only this dataset needs scikit-learn (installed with mlxtend)
        from sklearn.datasets import load_digits as sklearn_digits
    except ImportError as e:
        raise DataError(f"cannot load the digits ({e}); pip install scikit-learn") from e
    bunch = sklearn_digits()
    x, y = numpy.asarray(bunch.data), numpy.asarray(bunch.target)
    if x.ndim != 2 or x.shape[1] != 64 or len(y) != len(x) or y.dtype.kind not in "iu":
        raise DataError("scikit-learn's digits are malformed; reinstall scikit-learn")
    if x.min() < 0 or x.max() > SCALE or not numpy.array_equal(x, numpy.rint(x)) \
            or y.min() < 0 or y.max() > 9:
        raise DataError("scikit-learn's digits are not integer pixels 0..16 with labels 0..9; "
                        "reinstall scikit-learn")
    train, test = stratified_split(y, 10, seed)
    x = pixels(x.astype(numpy.uint8), SCALE, scaled)
    y = y.astype(numpy.int64)
    source = (f"scikit-learn's 8x8 digits ({len(train)} train / {len(test)} test, "
              f"stratified split, seed {seed})")
    return Dataset(x[train], y[train], x[test], y[test], source, "digits", (1, 8, 8), 10,
                   None if scaled else SCALE, tuple(str(c) for c in range(10)))
