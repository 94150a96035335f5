"""Fashion-MNIST (Xiao, Rasul & Vollgraf 2017, Zalando Research): 70,000 28x28
grey images of ten kinds of clothing, in the same four IDX files as MNIST."""

from pathlib import Path

from . import idx
from .download import cache_folder

# Tried in order; tests point this at file:// folders so they never touch the network.
MIRRORS = (
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
)
# MD5 of the .gz files as published in Zalando's README.
MD5 = {
    "train-images-idx3-ubyte": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte": "bb300cfdad3c16e7a12a480ee83cd310",
}
CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
           "Sneaker", "Bag", "Ankle boot")


def load_fashion_mnist(data_dir=None, download=True, scaled=True):
    """Fashion-MNIST from ``data_dir`` (default ``~/.cache/minifa/fashion-mnist``),
    downloading missing files (MD5-checked) when ``download``."""
    folder = Path(data_dir).expanduser() if data_dir is not None else \
        cache_folder("fashion-mnist")
    return idx.load_folder(folder, name="fashion-mnist", title="Fashion-MNIST",
                           mirrors=MIRRORS, md5=MD5, download_missing=download, scaled=scaled,
                           hint="pass --data-dir DIR", classes=CLASSES)
