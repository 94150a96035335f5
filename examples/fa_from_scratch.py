"""Feedback alignment (Lillicrap, Cownden, Tweed & Akerman 2016, "Random synaptic feedback
weights support error backpropagation for deep learning", Nat. Commun. 7:13276) from scratch
in NumPy: a 784-128-64-10 ReLU MLP whose layers send the error down through fixed random
matrices B in place of W.T; softmax cross-entropy, Adam lr 3e-4, batches of 64 (the last
partial one dropped). A seed gives, to the bit, the numbers of examples/mnist.py (which trains
minifa.mlp(SIZES, rule="fa", seed=seed)) at the same BLAS threads. Data: the embedded MNIST
subset, or full MNIST from --data-dir DIR.
"""

import argparse
import math

import numpy as np

import minifa  # for the data and the seeded random streams only

SIZES, BATCH, LR, BETA1, BETA2, EPS = [784, 128, 64, 10], 64, 3e-4, 0.9, 0.999, 1e-8


def forward(params, x):
    """Each layer's input [h_0 = x, h_1, h_2], h_l = max(z_l, 0), and the logits z_3."""
    hs = [x]
    for W, b in zip(params[::2], params[1::2]):
        z = hs[-1] @ W + b  # z_l = h_{l-1} @ W_l + b_l: (n, in) @ (in, out) + (out,) -> (n, out)
        hs.append(np.maximum(z, 0))
    return hs[:-1], z


def softmax_ce(z, y):
    """L = mean_n(logsumexp(z_n) - z_n[y_n]) and delta = (softmax(z) - onehot(y)) / n."""
    n, rows = len(y), np.arange(len(y))
    z = z - z.max(axis=1, keepdims=True)  # exp cannot overflow; L is unchanged
    p = np.exp(z)
    s = p.sum(axis=1)  # (n,)
    e = p / s[:, None]
    e[rows, y] -= 1  # e = softmax(z) - onehot(y)
    return ((np.log(s) - z[rows, y]) * (1.0 / n)).sum(), e * (1.0 / n)


def backward(Bs, hs, delta):
    """[dW_1, db_1, ...], each layer's from the delta it receives (FA: sent down through B)."""
    grads = []
    for i in reversed(range(len(Bs))):
        grads[:0] = [hs[i].T @ delta, delta.sum(axis=0)]  # dW: (in, n) @ (n, out) -> (in, out)
        if i:  # delta_{l-1} = (delta_l @ B_l) * 1[z_{l-1} > 0], as h > 0 exactly where z > 0
            delta = (delta @ Bs[i]) * (hs[i] > 0)  # (n, out) @ (out, in) -> (n, in); BP: W.T
    return grads


def adam(params, grads, mu, nu, t):
    """Adam (Kingma & Ba 2015): W -= lr m_hat / (sqrt(v_hat) + eps), m_hat = m / (1 - beta1^t),
    v_hat = v / (1 - beta2^t), m = beta1 m + (1 - beta1) g, v = beta2 v + (1 - beta2) g^2; kept
    as mu = m / (1 - beta1), nu = v / (1 - beta2) to round as minifa's Adam (textbook drifts)."""
    r = math.sqrt((1.0 - BETA2**t) / (1.0 - BETA2))
    k, eps = LR * (1.0 - BETA1) * r / (1.0 - BETA1**t), EPS * r
    for w, g, m, v in zip(params, grads, mu, nu):
        m[...] = BETA1 * m + g
        v[...] = BETA2 * v + g * g
        w -= k * (m / (np.sqrt(v) + eps))


def evaluate(params, x, y, size=1000):
    """Mean loss and accuracy, ``size`` samples at a time."""
    loss = correct = 0
    for i in range(0, len(y), size):
        z = forward(params, x[i:i + size])[1]
        loss = loss + softmax_ce(z, y[i:i + size])[0] * len(z)
        correct += (z.argmax(axis=1) == y[i:i + size]).sum()
    return float(loss) / len(y), float(correct) / len(y)


def train(ds, epochs=10, seed=0):
    """Yields (epoch, loss_train, loss_test, acc_train, acc_test) of each epoch on ``ds``."""
    rng = minifa.streams(seed)  # the generators minifa.mlp and examples/mnist.py draw from
    params, Bs = [], []
    for n_in, n_out in zip(SIZES, SIZES[1:]):  # W, B Glorot-uniform U(-a, a); b = 0
        a = (6.0 / (n_in + n_out)) ** 0.5
        params += [rng.weights.uniform(-a, a, (n_in, n_out)).astype(np.float32),
                   np.zeros(n_out, np.float32)]
        Bs.append(rng.feedback.uniform(-a, a, (n_out, n_in)).astype(np.float32))
    mu, nu = [np.zeros_like(p) for p in params], [np.zeros_like(p) for p in params]
    steps, t = len(ds.y_train) // BATCH, 0
    for epoch in range(1, epochs + 1):
        loss = correct = 0
        order = rng.shuffle.permutation(len(ds.y_train))[:steps * BATCH]  # less a partial batch
        for idx in order.reshape(steps, BATCH):
            x, y = ds.x_train[idx], ds.y_train[idx]
            hs, z = forward(params, x)
            value, delta = softmax_ce(z, y)
            loss, correct, t = loss + value, correct + (z.argmax(axis=1) == y).sum(), t + 1
            adam(params, backward(Bs, hs, delta), mu, nu, t)
        loss_test, acc_test = evaluate(params, ds.x_test, ds.y_test)
        yield epoch, float(loss) / steps, loss_test, float(correct) / (steps * BATCH), acc_test


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--data-dir", metavar="DIR", help="full MNIST from DIR (default: the subset)")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    if args.epochs < 1:
        p.error(f"argument --epochs: must be positive, got {args.epochs}")
    data = "mnist" if args.data_dir else "mnist-small"
    try:
        ds = minifa.load_dataset(data, args.data_dir, seed=args.seed)  # float32 pixels / 255
    except minifa.MinifaError as e:  # a bad seed or folder: one line, no traceback
        p.exit(2, f"error: {e}\n")
    print(f"data: {ds.source}\nepoch loss_train  loss_test acc_train acc_test")
    for row in train(ds, args.epochs, args.seed):
        print("{:5d} {:10.4f} {:10.4f} {:9.4f} {:8.4f}".format(*row), flush=True)
