"""Data: datasets by name (MNIST, Fashion-MNIST, CIFAR-10, digits) and minibatching."""

from .dataset import Dataset
from .datasets import CHOICES, DATASETS, load_dataset
from .idx import read_idx
from .loader import DataLoader, check_data
from .mnist import load_mnist

__all__ = ["CHOICES", "DATASETS", "DataLoader", "Dataset", "check_data", "load_dataset",
           "load_mnist", "read_idx"]
