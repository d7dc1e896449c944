"""Benchmark: masked MLP training steps, sparsecert's NumPy/Numba loop against the same loop in torch.

Group ``mlp-step-w{width}``: 784-w-w-10 ReLU MLP with biases, softmax
cross-entropy, Adam (lr 1e-3), masks at 20% density on every layer, minibatches
of 128, 20 steps (one epoch over 2560 samples) -- ``sparsecert.imp.train``
against a hand-written torch loop doing the same work (forward, backward,
``Adam.step``, re-apply the masks). Both use the process's BLAS/intra-op
threads. Run with ``make bench`` (skipped when torch is not installed). No
timing is asserted; the note reports the ratios.
"""

import numpy as np
import pytest

from sparsecert.nn import ReLUNet, train

torch = pytest.importorskip("torch")

N, D, K, B = 2560, 784, 10, 128


def setup(width):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((N, D))
    y = rng.integers(0, K, N)
    net = ReLUNet.init([D, width, width, K], rng)
    masks = [rng.random(W.shape) < 0.2 for W in net.Ws]
    return X, y, net, masks


@pytest.mark.parametrize("width", [100, 300, 1000])
def test_numpy_mlp_epoch(benchmark, width):
    X, y, net, masks = setup(width)
    benchmark.group = f"mlp-step-w{width}"
    benchmark.pedantic(lambda: train(net.copy(), X, y, masks=masks, loss="ce", epochs=1, batch_size=B, rng=0),
                       rounds=5, warmup_rounds=1)


@pytest.mark.parametrize("width", [100, 300, 1000])
def test_torch_mlp_epoch(benchmark, width):
    X, y, net, masks = setup(width)
    benchmark.group = f"mlp-step-w{width}"
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    mt = [torch.from_numpy(m.astype(np.float64)) for m in masks]

    def run():
        layers = []
        for W, b in zip(net.Ws, net.bs):
            lin = torch.nn.Linear(W.shape[1], W.shape[0], dtype=torch.float64)
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(W))
                lin.bias.copy_(torch.from_numpy(b))
            layers.append(lin)
        model = torch.nn.Sequential(layers[0], torch.nn.ReLU(), layers[1], torch.nn.ReLU(), layers[2])
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        order = torch.from_numpy(np.random.default_rng(0).permutation(N))
        for b0 in range(0, N, B):
            rows = order[b0 : b0 + B]
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(Xt[rows]), yt[rows])
            loss.backward()
            opt.step()
            with torch.no_grad():
                for lin, m in zip(layers, mt):
                    lin.weight.mul_(m)

    benchmark.pedantic(run, rounds=5, warmup_rounds=1)
