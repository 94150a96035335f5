"""A test backend whose arrays behave like CuPy's towards NumPy, on the CPU.

``StrictArray`` wraps a NumPy array but refuses implicit conversion to NumPy
(``numpy.asarray(a)`` raises, as CuPy does) and refuses to meet NumPy arrays
or NumPy scalars in any operation. Reading a value back to the host
(``float``, ``int``, ``bool``, ``item``) is allowed but counted in
``SYNCS["count"]``, so tests can prove that a batch loop never syncs; the
explicit copies are counted too, host to device in ``SYNCS["to_device"]`` and
back in ``SYNCS["to_host"]``.
"""

import numpy

from minifa import backend as backend_module

SYNCS = {"count": 0, "to_device": 0, "to_host": 0}


def _reject(obj):
    if isinstance(obj, (numpy.ndarray, numpy.generic)):
        raise TypeError(
            f"strict backend: a {type(obj).__name__} met a device array; "
            "NumPy data must be moved explicitly"
        )


def _unwrap(obj):
    if isinstance(obj, StrictArray):
        return obj.a
    if isinstance(obj, (tuple, list)):
        return type(obj)(_unwrap(o) for o in obj)
    _reject(obj)
    return obj


def _wrap(obj):
    if isinstance(obj, numpy.ndarray):
        return StrictArray(obj)
    if isinstance(obj, numpy.generic):  # reductions give 0-d arrays on a GPU
        return StrictArray(numpy.asarray(obj))
    if isinstance(obj, tuple):
        return tuple(_wrap(o) for o in obj)
    return obj


def _binary(name):
    def op(self, other):
        return _wrap(getattr(self.a, name)(_unwrap(other)))

    return op


def _inplace(name):
    def op(self, other):
        getattr(self.a, name)(_unwrap(other))
        return self

    return op


class StrictArray:
    __slots__ = ("a",)
    __array_ufunc__ = None  # NumPy ufuncs refuse us; NumPy operators defer to us
    __array_function__ = None

    def __init__(self, a):
        self.a = a

    def __array__(self, *args, **kwargs):
        raise TypeError("strict backend: implicit conversion to a NumPy array is not allowed")

    # read-backs: allowed, but counted
    def _sync(self):
        SYNCS["count"] += 1
        return self.a

    def __float__(self):
        return float(self._sync())

    def __int__(self):
        return int(self._sync())

    def __index__(self):
        return int(self._sync())

    def __bool__(self):
        return bool(self._sync())

    def item(self):
        return self._sync().item()

    def __len__(self):
        return len(self.a)

    def __iter__(self):
        raise TypeError("strict backend: iterating a device array element by element")

    def __repr__(self):
        return f"StrictArray(shape={self.a.shape}, dtype={self.a.dtype})"

    # metadata
    shape = property(lambda self: self.a.shape)
    ndim = property(lambda self: self.a.ndim)
    dtype = property(lambda self: self.a.dtype)
    size = property(lambda self: self.a.size)
    T = property(lambda self: StrictArray(self.a.T))

    def __getitem__(self, key):
        return _wrap(self.a[_unwrap(key)])

    def __setitem__(self, key, value):
        self.a[_unwrap(key)] = _unwrap(value)

    def __getattr__(self, name):  # methods: sum, max, argmax, copy, astype, ...
        attr = getattr(self.a, name)
        if not callable(attr):
            raise AttributeError(name)

        def method(*args, **kwargs):
            return _wrap(attr(*_unwrap(args), **{k: _unwrap(v) for k, v in kwargs.items()}))

        return method

    def __neg__(self):
        return StrictArray(-self.a)

    def __abs__(self):
        return StrictArray(abs(self.a))


for _name in ("add", "sub", "mul", "truediv", "floordiv", "pow", "matmul", "mod",
              "lt", "le", "gt", "ge", "eq", "ne", "and", "or"):
    setattr(StrictArray, f"__{_name}__", _binary(f"__{_name}__"))
    if _name not in ("lt", "le", "gt", "ge", "eq", "ne"):
        setattr(StrictArray, f"__r{_name}__", _binary(f"__r{_name}__"))
        setattr(StrictArray, f"__i{_name}__", _inplace(f"__i{_name}__"))


class StrictModule:
    """The ``xp`` of the strict backend: NumPy's functions on StrictArrays only."""

    ndarray = StrictArray
    float32, float64, int64 = numpy.float32, numpy.float64, numpy.int64
    finfo, dtype = staticmethod(numpy.finfo), staticmethod(numpy.dtype)

    def asarray(self, a, dtype=None):  # the explicit host -> device copy
        if isinstance(a, StrictArray):
            return a if dtype is None else StrictArray(a.a.astype(dtype))
        SYNCS["to_device"] += 1
        return StrictArray(numpy.array(a, dtype=dtype))

    def __getattr__(self, name):
        fn = getattr(numpy, name)
        if not callable(fn):
            return fn

        def call(*args, **kwargs):
            return _wrap(fn(*_unwrap(args), **{k: _unwrap(v) for k, v in kwargs.items()}))

        return call


def _to_host(a):
    SYNCS["to_host"] += 1
    return a.a.copy()


def _factory():
    return backend_module.Backend("strict", StrictModule(), (StrictArray,), _to_host)


def install():
    """Register the backend as ``"strict"`` and return it."""
    backend_module.register("strict", _factory)
    return backend_module.get_backend("strict")
