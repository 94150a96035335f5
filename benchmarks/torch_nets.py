"""PyTorch twins of the nets benchmarks/speed.py times, started from minifa's initial weights.

    mlp(model)    minifa.mlp(..., rule="fa")'s network as torch_fa.MLP, W, b and B copied in
    lenet(model)  examples/lenet.py's LeNet-5 (minifa.convnet.lenet) as torch.nn layers,
                  trained by BP, with minifa's weights

minifa keeps a dense W as (in, out) and a conv W as (c_out, c_in, kh, kw):
torch.nn.Linear's weight is W.T, torch.nn.Conv2d's is W.
"""

import numpy
import torch
import torch.nn.functional as F
from torch_fa import MLP, relu_between


def dense_layers(model):
    return [layer for layer in model.layers if hasattr(layer, "n_out")]


def mlp(model, rule="fa"):
    """The torch twin of minifa MLP ``model`` (FA, or BP as a control)."""
    to_host = model.backend.to_host
    return MLP([tuple(numpy.array(to_host(a)) for a in (layer.W, layer.b, layer.B))
                for layer in dense_layers(model)], rule)


def tensor(a):
    return torch.from_numpy(numpy.array(a))


class LeNet(torch.nn.Module):
    """conv 6@5x5 (pad 2) -> ReLU -> maxpool 2 -> conv 16@5x5 -> ReLU -> maxpool 2
    -> 16 x h2 x w2 -> 120 -> ReLU -> 84 -> ReLU -> classes, trained by BP."""

    def __init__(self, model):
        super().__init__()
        convs = [layer for layer in model.layers if hasattr(layer, "kh")]
        dense = dense_layers(model)
        self.image = model.layers[0].shape  # (c, h, w) of the first Reshape
        dt = tensor(numpy.zeros(0, model.dtype)).dtype  # minifa's dtype, as torch names it
        self.conv1 = torch.nn.Conv2d(convs[0].c_in, 6, 5, padding=2, dtype=dt)
        self.conv2 = torch.nn.Conv2d(6, 16, 5, dtype=dt)
        self.fc = torch.nn.ModuleList(torch.nn.Linear(d.n_in, d.n_out, dtype=dt) for d in dense)
        with torch.no_grad():
            for mine, theirs in zip((self.conv1, self.conv2), convs):
                mine.weight.copy_(tensor(theirs.W))
                mine.bias.copy_(tensor(theirs.b))
            for mine, theirs in zip(self.fc, dense):
                mine.weight.copy_(tensor(theirs.W).t())
                mine.bias.copy_(tensor(theirs.b))

    def forward(self, x):
        x = x.view(x.shape[0], *self.image)
        x = F.max_pool2d(torch.relu(self.conv1(x)), 2)
        x = F.max_pool2d(torch.relu(self.conv2(x)), 2)
        return relu_between(self.fc, x.flatten(1))


def lenet(model):
    """The torch twin (BP) of minifa's ``lenet`` ``model``."""
    return LeNet(model)
