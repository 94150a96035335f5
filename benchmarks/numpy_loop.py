"""The reference run as one hand-written NumPy loop: no layers, no checks, no
engine. It is the yardstick for minifa's own overhead in ``compare_torch.py``
(contestant ``numpy-loop``): the same equations, the same float32 numbers,
the same batches, written the way one would write them for speed alone.

    z1 = x @ W1 + b1; h1 = relu(z1); z2 = h1 @ W2 + b2; h2 = relu(z2); z3 = h2 @ W3 + b3
    e = (softmax(z3) - onehot(y)) / n
    dW3 = h2.T @ e;   d2 = (e @ B3) * 1[z2 > 0]
    dW2 = h1.T @ d2;  d1 = (d2 @ B2) * 1[z1 > 0]
    dW1 = x.T @ d1
    Adam on one flat array of all parameters, subnormal moments flushed every 100 steps
"""

import math
import time

import numpy

import minifa


class NumpyLoopRun:
    """Trains minifa's seed-``seed`` FA MLP with the loop above; ``run`` and
    ``weights`` match ``MinifaRun`` so the benchmark treats both alike."""

    def __init__(self, name, x, y, sizes, batch_size, lr, seed, shuffle=True):
        model = minifa.mlp(sizes, rule="fa", seed=seed)  # the same start as minifa
        dense = [layer for layer in model.layers if hasattr(layer, "W")]
        self.name, self.x, self.y, self.lr = name, x, y, float(lr)
        self.batch_size, self.shuffle = batch_size, shuffle
        self.steps_per_epoch = x.shape[0] // batch_size
        self.rng = minifa.streams(seed).shuffle  # the same shuffles as minifa's loader
        shapes = [layer.W.shape for layer in dense] + [layer.b.shape for layer in dense]
        size = sum(math.prod(s) for s in shapes)
        self.w = numpy.empty(size, numpy.float32)
        self.g = numpy.zeros(size, numpy.float32)
        self.mu, self.nu, self.s = (numpy.zeros(size, numpy.float32) for _ in range(3))
        views, grads, offset = [], [], 0
        for shape in shapes:
            n = math.prod(shape)
            views.append(self.w[offset:offset + n].reshape(shape))
            grads.append(self.g[offset:offset + n].reshape(shape))
            offset += n
        for view, layer in zip(views, dense + dense):
            view[...] = layer.W if view.ndim == 2 else layer.b
        self.params, self.grads = views, grads
        self.B = [layer.B for layer in dense]
        self.rows = numpy.arange(batch_size)
        self.t = 0

    def run(self, steps=None):
        """Train ``steps`` batches of a fresh shuffle; returns (seconds, mean loss)."""
        steps = steps or self.steps_per_epoch
        W1, W2, W3, b1, b2, b3 = self.params
        dW1, dW2, dW3, db1, db2, db3 = self.grads
        _, B2, B3 = self.B
        w, g, mu, nu, s = self.w, self.g, self.mu, self.nu, self.s
        bs, rows, X, Y = self.batch_size, self.rows, self.x, self.y
        order = self.rng.permutation(X.shape[0]) if self.shuffle else numpy.arange(X.shape[0])
        tiny = float(numpy.finfo(numpy.float32).tiny)
        total = 0.0
        start = time.perf_counter()
        for i in range(steps):
            idx = order[i * bs:(i + 1) * bs]
            x = numpy.divide(X[idx], 255.0, dtype=numpy.float32)
            y = Y[idx]
            z1 = x @ W1
            z1 += b1
            h1 = numpy.maximum(z1, 0)
            z2 = h1 @ W2
            z2 += b2
            h2 = numpy.maximum(z2, 0)
            z3 = h2 @ W3
            z3 += b3
            z3 -= z3.max(axis=1, keepdims=True)
            p = numpy.exp(z3)
            sums = p.sum(axis=1, keepdims=True)
            total = total + (numpy.log(sums[:, 0]) - z3[rows, y]).sum() * (1.0 / bs)
            p /= sums
            p[rows, y] -= 1.0
            p *= 1.0 / bs  # e
            numpy.matmul(h2.T, p, out=dW3)
            numpy.sum(p, axis=0, out=db3)
            d2 = p @ B3
            d2 *= z2 > 0
            numpy.matmul(h1.T, d2, out=dW2)
            numpy.sum(d2, axis=0, out=db2)
            d1 = d2 @ B2
            d1 *= z1 > 0
            numpy.matmul(x.T, d1, out=dW1)
            numpy.sum(d1, axis=0, out=db1)
            self.t += 1
            c1, c2 = 1.0 - 0.9 ** self.t, 1.0 - 0.999 ** self.t
            r = math.sqrt(c2 / 0.001)
            k, eps = self.lr * 0.1 * r / c1, 1e-8 * r
            mu *= 0.9
            mu += g
            nu *= 0.999
            nu += numpy.multiply(g, g, out=s)
            numpy.sqrt(nu, out=s)
            s += eps
            numpy.divide(mu, s, out=s)
            s *= k
            w -= s
            if self.t % 100 == 0:
                mu *= numpy.abs(mu) >= tiny
                nu *= numpy.abs(nu) >= tiny
        return time.perf_counter() - start, float(total) / steps

    def weights(self):
        W1, W2, W3, b1, b2, b3 = self.params
        return [(W1.copy(), b1.copy()), (W2.copy(), b2.copy()), (W3.copy(), b3.copy())]
