"""Data: MNIST loading and minibatching."""

from .loader import DataLoader, check_data
from .mnist import Dataset, load_mnist, read_idx

__all__ = ["DataLoader", "Dataset", "check_data", "load_mnist", "read_idx"]
