"""Array backends: the one module that knows about CuPy.

A backend hands out the array module ``xp`` (``numpy`` or ``cupy``) and the
few explicit operations that cross the host/device line: ``asarray`` (host to
device, once), ``to_host`` (device to host) and ``synchronize`` (for timing).
The engine never converts implicitly; arrays of two backends never mix.

Choose by name: ``get_backend("cupy")``, or the environment variable
``MINIFA_BACKEND``; the default is ``"numpy"``.
"""

import os

import numpy

from .errors import BackendError

ENV_VAR = "MINIFA_BACKEND"


class Backend:
    """An array module plus the explicit host/device crossings.

    ``array_types`` are the array classes this backend owns; ``xp`` supplies
    every array function the engine calls. ``fused`` (True) lets minifa.fast
    use the backend's fused kernels; set it False to time or check the plain
    array code they replace.
    """

    def __init__(self, name, xp, array_types, to_host, synchronize=None, compile_kernel=None,
                 compile_loop=None):
        self.name = name
        self.xp = xp
        self.array_types = tuple(array_types)
        self._to_host = to_host
        self._synchronize = synchronize
        self._compile_kernel = compile_kernel
        self._compile_loop = compile_loop
        self._kernels, self._loops = {}, {}
        self.fused = True  # False: every fast path runs its plain array code instead

    def __repr__(self):
        return f"Backend({self.name!r})"

    def owns(self, a):
        return isinstance(a, self.array_types)

    def asarray(self, a, dtype=None):
        """Copy a host array (or Python data) onto this backend's device."""
        if not isinstance(a, numpy.ndarray) and not self.owns(a):
            a = numpy.asarray(a)
        return self.xp.asarray(a, dtype=dtype)

    def to_host(self, a):
        """Copy an array of this backend to a NumPy array on the host."""
        if isinstance(a, numpy.ndarray) and not self.owns(a):
            return a
        self.check(a)
        return self._to_host(a)

    def synchronize(self):
        """Wait for queued device work (a no-op on NumPy); used only for timing."""
        if self._synchronize is not None:
            self._synchronize()

    def elementwise(self, in_params, out_params, operation, name):
        """One fused elementwise kernel for a chain that would otherwise launch a
        kernel (or make a pass over memory) per operation: CuPy's
        ``ElementwiseKernel`` on a GPU, the Numba loop of the same name on NumPy
        (minifa.numba_kernels), or None where there is no such thing (no loop of
        that name, NumPy without Numba, ``fused`` off): callers then run the plain
        array code, which stays the reference the fused form is tested against."""
        if self._compile_kernel is None or not self.fused:
            return None
        if name not in self._kernels:
            self._kernels[name] = self._compile_kernel(in_params, out_params, operation, name)
        return self._kernels[name]

    def cpu_loop(self, name):
        """A compiled CPU loop for a fast path with no GPU kernel (im2col, col2im,
        2x2 max pooling): Numba's on NumPy (minifa.numba_kernels), None on other
        backends, without Numba, or with ``fused`` off."""
        if self._compile_loop is None or not self.fused:
            return None
        if name not in self._loops:
            self._loops[name] = self._compile_loop(name)
        return self._loops[name]

    def check(self, a, what="array"):
        """Raise BackendError unless ``a`` lives on this backend."""
        if not self.owns(a):
            raise BackendError(
                f"{what} is a {type(a).__module__}.{type(a).__name__}, but the model runs on "
                f"the {self.name!r} backend: move it explicitly with "
                f"minifa.backend.get_backend({self.name!r}).asarray(...)"
            )


def _numpy_backend():
    from . import numba_kernels  # fused CPU loops where Numba is installed

    return Backend("numpy", numpy, (numpy.ndarray, numpy.generic), numpy.asarray,
                   compile_kernel=numba_kernels.compile_kernel,
                   compile_loop=numba_kernels.compile_loop)


def _cupy_backend():
    try:
        import cupy
    except ImportError as exc:
        raise BackendError(
            "backend 'cupy' needs CuPy, which is not installed: install the build that "
            "matches your CUDA (e.g. pip install cupy-cuda12x, or pip install 'minifa[gpu]'), "
            "or use the numpy backend (--backend numpy)"
        ) from exc
    try:
        n_devices = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # CUDA driver or runtime missing
        raise BackendError(
            f"backend 'cupy' found no usable CUDA device ({type(exc).__name__}: {exc}); "
            "check the NVIDIA driver and CUDA_VISIBLE_DEVICES, or use the numpy backend "
            "(--backend numpy)"
        ) from exc
    if n_devices == 0:
        raise BackendError(
            "backend 'cupy' found no CUDA device: check the NVIDIA driver and "
            "CUDA_VISIBLE_DEVICES, or use the numpy backend (--backend numpy)"
        )
    return Backend(
        "cupy",
        cupy,
        (cupy.ndarray,),
        cupy.asnumpy,
        lambda: cupy.cuda.get_current_stream().synchronize(),
        cupy.ElementwiseKernel,
    )


_factories = {"numpy": _numpy_backend, "cupy": _cupy_backend}
_cache = {}
_by_type = {}


def available():
    """Names of the backends that can be asked for (not all may work here)."""
    return sorted(_factories)


def register(name, factory):
    """Add a backend: ``factory()`` returns a Backend. Used by tests for strict arrays."""
    _factories[name] = factory
    _cache.pop(name, None)
    _by_type.clear()


def get_backend(name=None):
    """The backend called ``name`` (a Backend is passed through).

    ``None`` reads ``MINIFA_BACKEND`` and falls back to ``"numpy"``.
    """
    if isinstance(name, Backend):
        return name
    if name is None:
        name = os.environ.get(ENV_VAR) or "numpy"
    key = str(name).strip().lower()
    if key not in _factories:
        raise BackendError(
            f"unknown backend {name!r}: choose one of {', '.join(available())}"
        )
    if key not in _cache:
        _cache[key] = _factories[key]()
    return _cache[key]


def backend_of(a):
    """The backend that owns array ``a`` (among those already in use, then NumPy)."""
    backend = _by_type.get(type(a))  # the common case, without a loop
    if backend is not None:
        return backend
    for b in [get_backend("numpy"), *_cache.values()]:
        if b.owns(a):
            _by_type[type(a)] = b
            return b
    raise BackendError(
        f"{type(a).__module__}.{type(a).__name__} is not an array of any backend in use"
    )


def get_array_module(*arrays):
    """The ``xp`` of ``arrays``; raises BackendError if they come from two backends."""
    backend = backend_of(arrays[0])
    for a in arrays[1:]:
        other = backend_of(a)
        if other is not backend:
            raise BackendError(
                f"arrays from different backends mixed ({backend.name} and {other.name}): "
                "move them explicitly with Backend.asarray or Backend.to_host"
            )
    return backend.xp
