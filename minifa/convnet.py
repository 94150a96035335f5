"""A LeNet-5-style conv net (LeCun et al. 1998) for images of any size and
channel count, trained by BP or by feedback alignment in every layer."""

from .backend import get_backend
from .errors import InputError
from .layers import FALinear, Linear, ReLU
from .layers.conv import Conv2d, FAConv2d, Flatten, MaxPool2d, Reshape
from .model import Sequential
from .seeding import streams

LAYERS = {"bp": (Conv2d, Linear), "fa": (FAConv2d, FALinear)}


def lenet(image_shape=(1, 28, 28), n_classes=10, rule="fa", seed=0, dtype="float32",
          backend=None):
    """LeNet-5 with ReLU and max pooling, for (c, h, w) images as flat rows:

        c x h x w -> conv 6@5x5 (pad 2) -> ReLU -> maxpool 2 -> conv 16@5x5 -> ReLU
          -> maxpool 2 -> 16 x h2 x w2 -> 120 -> ReLU -> 84 -> ReLU -> n_classes

    with h2 = (h/2 - 4) / 2: 400 inputs to the dense layers for MNIST's 1x28x28,
    576 for CIFAR-10's 3x32x32. ``rule="fa"`` makes every conv and dense layer
    send its error down through a fixed random B (FAConv2d, FALinear); "bp"
    uses W. Weights come from the seed's ``weights`` stream, feedback filters
    and matrices from its ``feedback`` stream.
    """
    if rule not in LAYERS:
        raise InputError(f"lenet trains by {' or '.join(LAYERS)}, not {rule!r}")
    c, h, w = (int(s) for s in image_shape)
    if min(h, w) < 12 or h % 4 or w % 4:
        raise InputError(f"lenet needs images of at least 12x12 with sides divisible by 4, "
                         f"got {h}x{w}: use an MLP for these")
    conv, dense = LAYERS[rule]
    rngs = streams(seed)
    kw = dict(rng=rngs.weights, dtype=dtype, backend=get_backend(backend))
    if rule == "fa":
        kw["feedback_rng"] = rngs.feedback
    h2, w2 = (h // 2 - 4) // 2, (w // 2 - 4) // 2
    model = Sequential(
        Reshape((c, h, w)),  # (n, c*h*w) rows -> (n, c, h, w) images
        conv(c, 6, 5, padding=2, **kw), ReLU(), MaxPool2d(2),  # -> (n, 6, h/2, w/2)
        conv(6, 16, 5, **kw), ReLU(), MaxPool2d(2),  # -> (n, 16, h2, w2)
        Flatten(),  # -> (n, 16*h2*w2)
        dense(16 * h2 * w2, 120, **kw), ReLU(),
        dense(120, 84, **kw), ReLU(),
        dense(84, int(n_classes), **kw),
    )
    model.rule = rule
    return model
