"""Errors a user can meet. Each message says what went wrong and what to do."""


class MinifaError(Exception):
    """Base class: the examples print these as one line and exit with status 2."""


class BackendError(MinifaError, RuntimeError):
    """Unknown backend, CuPy missing, no GPU, or arrays from two backends mixed."""


class InputError(MinifaError, ValueError):
    """Bad shapes, dtypes, non-finite values or labels out of range."""


class DataError(MinifaError, OSError):
    """Missing, corrupt or truncated data files, or a failed download."""


class TrainingStopped(MinifaError, RuntimeError):
    """Training stopped early: interrupted (Ctrl-C) or diverged (a non-finite loss).

    ``history`` holds the epochs finished before the stop (a DataFrame, as ``train``
    returns), so nothing measured is lost."""

    def __init__(self, message, interrupted=False, history=None):
        super().__init__(message)
        self.interrupted = interrupted
        self.history = history


class GradientCheckError(MinifaError, AssertionError):
    """minifa.gradcheck found an analytic gradient or feedback that disagrees
    with its reference; an AssertionError, so pytest reports a failed test."""
