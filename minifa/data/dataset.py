"""The ``Dataset`` every loader returns, and what the loaders share: pixel
scaling and a seeded stratified split."""

import math
from dataclasses import dataclass, field

import numpy


@dataclass
class Dataset:
    """Train and test splits of images as flat rows.

    x (n, c*h*w): uint8 pixels (``scale`` maps them to [0, 1]: 255 for 8-bit
    images, 16 for scikit-learn's digits), or float32 in [0, 1] when loaded
    scaled (then ``scale`` is None). Rows are channel-major, so
    ``x.reshape(n, *image_shape)`` gives the images. y int64 (n,) in
    0..n_classes-1, ``classes`` their names. ``source`` says where the data
    came from; ``note`` why it is not what was asked for, if so.
    """

    x_train: numpy.ndarray = field(repr=False)
    y_train: numpy.ndarray = field(repr=False)
    x_test: numpy.ndarray = field(repr=False)
    y_test: numpy.ndarray = field(repr=False)
    source: str
    name: str
    image_shape: tuple = (1, 28, 28)
    n_classes: int = 10
    scale: float | None = 255.0
    classes: tuple = ()
    note: str = ""

    @property
    def n_features(self):
        """The width of one row: channels x height x width."""
        return math.prod(self.image_shape)


def pixels(x, scale, scaled):
    """uint8 pixels -> float32 x / scale in [0, 1] when ``scaled``, else as they are."""
    if not scaled:
        return x
    # Exact float32 division straight from uint8: no float64 copy of the images.
    return numpy.divide(x, numpy.float32(scale), dtype=numpy.float32)


def stratified_split(y, n_classes, seed):
    """Indices (train, test): a fifth of every class to test, in seeded random order."""
    rng = numpy.random.default_rng(seed)
    train, test = [], []
    for c in range(n_classes):
        idx = rng.permutation(numpy.flatnonzero(y == c))
        test.append(idx[: len(idx) // 5])
        train.append(idx[len(idx) // 5 :])
    return rng.permutation(numpy.concatenate(train)), rng.permutation(numpy.concatenate(test))
