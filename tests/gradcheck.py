"""Central differences in float64 for the gradient tests."""

import numpy


def numerical_grad(f, a, h=1e-6):
    """d f() / d a by central differences, perturbing ``a`` in place."""
    grad = numpy.zeros_like(a)
    flat, gflat = a.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        up = f()
        flat[i] = old - h
        down = f()
        flat[i] = old
        gflat[i] = (up - down) / (2 * h)
    return grad
