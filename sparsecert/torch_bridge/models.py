"""Models of the papers' real-data experiments (float32, CPU-sized)."""

from __future__ import annotations

import torch
from torch import nn

from ..validation import integer_seed


def _seed_torch(rng, seed):
    """Seed torch's generator from ``rng`` (an int is the seed, a Generator gives a draw); None
    leaves it as it is. ``seed``: the old name, accepted with a FutureWarning."""
    if rng is not None or seed is not None:
        torch.manual_seed(integer_seed(rng, seed))


def glorot_normal(model):
    """Glorot (Xavier) normal weights for every Linear and Conv2d layer of ``model``, in place."""
    for mod in model.modules():
        if isinstance(mod, (nn.Linear, nn.Conv2d)):
            nn.init.xavier_normal_(mod.weight)
            if mod.bias is not None:
                nn.init.zeros_(mod.bias)
    return model


def mlp(sizes, *, init="glorot", bias=True, rng=None, seed=None):
    """ReLU MLP ``sizes = [d, m_1, ..., k]`` with a Flatten in front (images in, logits out).

    ``init``: ``"glorot"`` (Gaussian Glorot, as in Frankle & Carbin) or ``"torch"`` (nn.Linear's default).
    ``bias=False`` drops every bias (the IHT papers' bias-free nets). ``rng`` (int or Generator)
    seeds torch's generator first; None leaves it as it is.
    """
    if init not in ("glorot", "torch"):
        raise ValueError(f"init must be 'glorot' or 'torch', got {init!r}")
    _seed_torch(rng, seed)
    layers = [nn.Flatten()]
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b, bias=bias))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    net = nn.Sequential(*layers)
    return glorot_normal(net) if init == "glorot" else net


def lenet_300_100(d_in=784, k=10, rng=None, seed=None):
    """Lenet-300-100 (Frankle & Carbin): d_in-300-100-k, Gaussian Glorot init (``rng`` as in :func:`mlp`)."""
    _seed_torch(rng, seed)
    return mlp([d_in, 300, 100, k])


class _Block(nn.Module):
    def __init__(self, c_in, c_out, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.short = None
        if stride != 1 or c_in != c_out:
            self.short = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + (x if self.short is None else self.short(x)))


class ResNet(nn.Module):
    """CIFAR ResNet (He et al. 2016): 3x3 stem, three stages of ``n`` basic blocks with widths
    ``w, 2w, 4w`` (strides 1, 2, 2), global average pooling, a linear ``head``.
    Depth ``6 n + 2`` (ResNet-20: n = 3, w = 16, about 270K weights)."""

    def __init__(self, depth=20, width=16, in_channels=3, classes=10):
        super().__init__()
        if (depth - 2) % 6:
            raise ValueError(f"depth must be 6 n + 2 (8, 14, 20, ...), got {depth}")
        n = (depth - 2) // 6
        self.stem = nn.Sequential(nn.Conv2d(in_channels, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU())
        blocks, c = [], width
        for stage, w in enumerate((width, 2 * width, 4 * width)):
            for i in range(n):
                blocks.append(_Block(c, w, 2 if (stage and i == 0) else 1))
                c = w
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Linear(c, classes)

    def features(self, x):
        return self.blocks(self.stem(x)).mean(dim=(2, 3))

    def forward(self, x):
        return self.head(self.features(x))


def resnet(depth=20, width=16, in_channels=3, classes=10, rng=None, seed=None):
    """A :class:`ResNet` with Gaussian Glorot init (``rng`` as in :func:`mlp`)."""
    _seed_torch(rng, seed)
    return glorot_normal(ResNet(depth, width, in_channels, classes))


class ConvNet(nn.Module):
    """Conv-4 style net for small grey images: two stages of two 3x3 conv-BN-ReLU layers
    (widths ``w``, ``2 w``) each followed by 2x2 max pooling, then a hidden dense layer of
    ``hidden`` ReLU units (``features``) and a linear ``head``.

    Input (b, C, H, W) with H, W divisible by 4 (28x28: 7x7 maps before the dense layer;
    w = 8, hidden = 64 on 28x28: about 55K weights).
    """

    def __init__(self, in_channels=1, classes=10, width=8, hidden=64, image_size=28):
        super().__init__()
        if image_size % 4:
            raise ValueError(f"image_size must be divisible by 4, got {image_size}")

        def stage(a, b):
            return [nn.Conv2d(a, b, 3, 1, 1, bias=False), nn.BatchNorm2d(b), nn.ReLU(),
                    nn.Conv2d(b, b, 3, 1, 1, bias=False), nn.BatchNorm2d(b), nn.ReLU(), nn.MaxPool2d(2)]

        side = image_size // 4
        self.body = nn.Sequential(*stage(in_channels, width), *stage(width, 2 * width), nn.Flatten(),
                                  nn.Linear(2 * width * side * side, hidden), nn.ReLU())
        self.head = nn.Linear(hidden, classes)

    def features(self, x):
        return self.body(x)

    def forward(self, x):
        return self.head(self.features(x))


def convnet(in_channels=1, classes=10, width=8, hidden=64, image_size=28, rng=None, seed=None):
    """A :class:`ConvNet` with Gaussian Glorot init (``rng`` as in :func:`mlp`)."""
    _seed_torch(rng, seed)
    return glorot_normal(ConvNet(in_channels, classes, width, hidden, image_size))
