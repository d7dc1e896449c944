"""How hard is a planted two-hidden-layer cell when the support is given?  (developer tool; issue
"Sequential-convex IHT where it loses today", the quick grid's cell m = 5, s = 50, 2 layers.)

Each start draws random values on the planted net's own support (both hidden layers; output
weights free) and runs L-BFGS on the squared loss of the whole network
(``sparsecert.nn.loss_and_grad``); the table counts the starts that reach ``--target`` dB.
A fit that does not know the support has at least this problem to solve, so the share of
starts that succeed here bounds what a local method started at random can do::

    python paper_repro/recovery/scripts/planted_oracle_starts.py --m 5 --s 50 --seeds 0 1 2 --starts 40

About 15 s per start at n = 2,000 on 2 cores.
"""

import argparse

import numpy as np
from scipy.optimize import minimize

from sparsecert.planted import planted_deep
from sparsecert.metrics import psnr
from sparsecert.nn import ReLUNet, loss_and_grad


def oracle_fit(X, y, masks, rng, maxiter):
    """L-BFGS from random values on the fixed supports ``masks`` (hidden layers; the output row dense)."""
    masks = [*masks, np.ones((1, masks[-1].shape[0]), bool)]
    sizes = np.cumsum([0] + [int(M.sum()) for M in masks])
    scale = float(y @ y) / len(y)

    def unpack(p):
        Ws = [np.zeros(M.shape) for M in masks]
        for W, M, a, b in zip(Ws, masks, sizes[:-1], sizes[1:]):
            W[M] = p[a:b]
        return ReLUNet(Ws, copy=False)

    def fun(p):
        value, gW, _ = loss_and_grad(unpack(p), X, y[:, None], "mse")
        return value / scale, np.concatenate([g[M] for g, M in zip(gW, masks)]) / scale

    p0 = np.concatenate([rng.standard_normal(int(M.sum())) / np.sqrt(max(M.sum(axis=1).mean(), 1)) for M in masks])
    res = minimize(fun, p0, jac=True, method="L-BFGS-B", options={"maxiter": maxiter, "gtol": 1e-14, "ftol": 1e-16})
    return psnr(y, unpack(res.x)(X)), res.nit


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--m", type=int, default=5)
    ap.add_argument("--s", type=int, default=50)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--starts", type=int, default=40)
    ap.add_argument("--maxiter", type=int, default=600)
    ap.add_argument("--target", type=float, default=40.0)
    a = ap.parse_args()
    print("seed | starts >= target | best dB | median dB")
    for seed in a.seeds:
        X, y, net = planted_deep(a.n, 100, a.m, a.s, a.layers, seed)
        rng = np.random.default_rng(1000 + seed)
        scores = [oracle_fit(X, y, [W != 0 for W in net.Ws[:-1]], rng, a.maxiter)[0] for _ in range(a.starts)]
        print(f"{seed} | {sum(p >= a.target for p in scores)} of {a.starts} | {max(scores):.1f} | "
              f"{float(np.median(scores)):.1f}", flush=True)
