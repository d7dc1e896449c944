"""Library versions of the paper's experiments: planted MLPs and the memory claim.

* :func:`planted_mlp` / :func:`planted_mlp_grid`: plant a sparse ReLU MLP
  (Gaussian inputs, input dim 100, scalar output, ``s / layers`` N(0, 1)
  weights per layer, output = sum of the last hidden layer's ReLUs), fit it
  by IHT and report PSNR (``20 log10 max|y| - 10 log10 MSE``, on the
  training data: a fitting experiment), exact-support recovery, relative
  weight error, time and peak working memory.
* :func:`planted_vector`: the same with ``k`` outputs (the paper's Fig. 2):
  ``s / 2`` N(0, 1) weights in each of the hidden and output layers, fitted
  by vector IHT on both layers.
* :func:`working_set`: the solver's peak working set for given (n, d, m, s,
  block), estimated and measured (tracemalloc), against the O(n d + n block
  + s) model.
"""

from __future__ import annotations

import time
import tracemalloc

import numpy as np
from tqdm.auto import tqdm

from ._validation import check_int, check_option, check_rng
from .deep import MLP, recover_mlp
from .data import DATASETS
from .imp import imp
from .nn import DenseNet
from .models import planted_gaussian, planted_relu
from .operators import ReluPatternOperator
from .recovery import iht
from .metrics import psnr, relative_error
from .relu import match_neurons, recover_relu
from .sparse import SparseVector
from .prune.compare import METHODS as PRUNING_METHODS
from .recovery import METHODS
from .sweep import Param, register
from .io import write_csv  # noqa: F401  (its home before 0.3.0)

__all__ = [
    "capacity",
    "planted_mlp",
    "planted_mlp_grid",
    "planted_vector",
    "imp_relu_baseline",
    "write_csv",
    "working_set",
    "gaussian_recovery",
    "l1_recovery",
    "SUCCESS_TOL",
]

#: Relative error below which a recovery counts as a success in phase diagrams.
SUCCESS_TOL = 1e-4


def _planted_deep(n, d, m, s, layers, rng):
    """Gaussian X; each of the ``layers`` hidden layers gets ``s // layers`` N(0,1) weights."""
    X = rng.standard_normal((n, d))
    Ws, fan_in = [], d
    per = [s // layers] * layers
    per[0] += s - sum(per)
    for s_l in per:
        W = np.zeros((m, fan_in))
        W.flat[rng.choice(m * fan_in, min(s_l, m * fan_in), replace=False)] = rng.standard_normal(min(s_l, m * fan_in))
        Ws.append(W)
        fan_in = m
    net = MLP(Ws, np.ones(m))
    return X, net(X), net


def capacity(m, d, layers=1):
    """Weights a width-m net with ``layers`` hidden layers on d inputs can hold (the largest planted s)."""
    return m * d + (layers - 1) * m * m


def imp_relu_baseline(X, y, widths, s, *, epochs=15, lr=1e-3, rate=0.1, batch_size=None, rng=None):
    """The recovery paper's IMP baseline: a dense ReLU MLP (with biases) trained by Adam
    (lr 1e-3, MSE), 10% of the surviving weights pruned globally per round, survivors
    rewound to their initialisation, the same epochs every round, until ``s`` weights
    remain (biases not counted). A 2-d ``y`` (n, k) gives k outputs.

    Returns
    -------
    IMPResult
        ``.net`` is the final sparse network; ``peak_memory`` counts the dense state.
    """
    X = np.asarray(X)
    k = 1 if np.ndim(y) == 1 else np.shape(y)[1]
    net0 = DenseNet.init([X.shape[1], *widths, k], rng)
    return imp(net0, X, y, target=s, rate=rate, scope="global", rewind="init", optimizer="adam", lr=lr,
               epochs=epochs, batch_size=batch_size, rng=rng, progress=False)


def _backend_kwargs(device):
    """The IHT fits' ``backend``/``device`` arguments for ``device`` (None: NumPy)."""
    return {"backend": "numpy"} if device is None else {"backend": "torch", "device": device}


def planted_mlp(m, s, seed=0, *, n=50000, d=100, layers=1, method="aiht", sequential=True, max_iter=15, inner_iter=3,
                imp_baseline=False, imp_epochs=15, device=None):
    """Plant a sparse ReLU MLP of width ``m`` with ``s`` nonzeros and fit it by IHT.

    Parameters
    ----------
    m : int
        Hidden width (of the planted net and of the fit).
    s : int
        Nonzero weights of the planted net (the fit's budget too).
    seed : int
    n, d : int
        Samples and input dimension (paper: n = 50,000, d = 100).
    layers : int
        Hidden layers (1 or more; deeper fits go layer by layer).
    method, sequential, max_iter, inner_iter
        IHT settings (paper: sequential-convex AIHT, 15 full-batch epochs).
    imp_baseline : bool
        Also fit the same instance by :func:`imp_relu_baseline` (``imp_epochs``
        full-batch Adam epochs per round) and add ``imp_psnr``, ``imp_time``,
        ``imp_peak_memory``, ``imp_rounds``.
    device : str, optional
        Run IHT on the torch backend on this device (``"cpu"``, ``"cuda"``);
        default the NumPy backend.

    Returns
    -------
    dict
        ``m, s, seed, n, d, layers, method, psnr, support_recovered`` (None
        for layers > 1), ``rel_weight_error`` (None for layers > 1, units
        matched up to permutation), ``time`` (s), ``peak_memory`` (bytes),
        ``iterations``.
    """
    m = check_int(m, "m", low=1)
    layers = check_int(layers, "layers", low=1)
    s = check_int(s, "s", low=layers, high=capacity(m, d, layers))
    rng = check_rng(seed)
    backend = _backend_kwargs(device)
    row = {"m": m, "s": s, "seed": seed, "n": n, "d": d, "layers": layers, "method": method}
    t0 = time.perf_counter()
    if layers == 1:
        p = planted_relu(n, d, m, s, rng=rng)
        net, res = recover_relu(
            p.X, p.y, m, s, method=method, sequential=sequential, max_iter=max_iter, inner_iter=inner_iter,
            rng=rng, progress=False, **backend,
        )
        match = match_neurons(net, p.model)
        row.update(
            psnr=psnr(p.y, net.forward(p.X)), support_recovered=match["support_recovered"],
            rel_weight_error=match["rel_error"], peak_memory=res.peak_memory, iterations=res.n_iter,
        )
    else:
        X, y, _ = _planted_deep(n, d, m, s, layers, rng)
        net, results = recover_mlp(
            X, y, [m] * layers, s, method=method, sequential=sequential, max_iter=max_iter,
            inner_iter=inner_iter, rng=rng, progress=False, **backend,
        )
        row.update(
            psnr=psnr(y, net(X)), support_recovered=None, rel_weight_error=None,
            peak_memory=max(r.peak_memory for r in results), iterations=sum(r.n_iter for r in results),
        )
    row["time"] = time.perf_counter() - t0
    if imp_baseline:
        X_, y_ = (p.X, p.y) if layers == 1 else (X, y)
        res = imp_relu_baseline(X_, y_, [m] * layers, s, epochs=imp_epochs, rng=rng)
        row.update(imp_psnr=psnr(y_, res.net(X_)), imp_time=res.time, imp_peak_memory=res.peak_memory,
                   imp_rounds=len(res.nets) - 1)
    return row


def planted_vector(m, s, seed=0, *, n=50000, d=100, k=10, epochs=100, batch_size=5000, device=None,
                   imp_baseline=False):
    """Plant a sparse two-layer ReLU net with ``k`` outputs and fit it by vector IHT (paper Fig. 2).

    The planted net follows the published code: ``X`` (n, d) i.i.d. N(0, 1);
    ``s // 2`` uniformly placed N(0, 1) entries in the hidden weights ``U``
    (m x d) and ``s // 2`` in the output weights ``V`` (m x k) (capped by
    their sizes); ``Y = relu(X U^T) V``. The fit
    (:func:`sparsecert.deep.recover_relu_vector`, budget ``s`` over both
    layers) takes as many full-batch steps as ``epochs`` of minibatches of
    ``batch_size`` would (``epochs * ceil(n / batch_size)``; paper: 100
    epochs of 5000).

    Returns
    -------
    dict
        ``m, s, seed, n, d, k, psnr`` (dB over all n k outputs, peak max|Y|),
        ``time`` (s), ``peak_memory`` (bytes), ``iterations``, ``status``.
    """
    from .deep import recover_relu_vector

    m = check_int(m, "m", low=1)
    k = check_int(k, "k", low=1)
    s = check_int(s, "s", low=2, high=m * (d + k))
    steps = check_int(epochs, "epochs", low=1) * -(-n // check_int(batch_size, "batch_size", low=1))
    rng = check_rng(seed)
    X = rng.standard_normal((n, d))
    U, V = np.zeros((m, d)), np.zeros((m, k))
    for W in (U, V):
        nnz = min(W.size, s // 2)
        W.flat[rng.choice(W.size, nnz, replace=False)] = rng.standard_normal(nnz)
    Y = np.maximum(X @ U.T, 0.0) @ V
    t0 = time.perf_counter()
    backend = _backend_kwargs(device)
    net, res = recover_relu_vector(X, Y, m, s, max_iter=steps, rng=rng, progress=False, **backend)
    row = {"m": m, "s": s, "seed": seed, "n": n, "d": d, "k": k, "psnr": psnr(Y.ravel(), net.forward(X).ravel()),
           "time": time.perf_counter() - t0, "peak_memory": res.peak_memory, "iterations": res.n_iter,
           "status": res.status}
    if imp_baseline:
        r = imp_relu_baseline(X, Y, [m], s, epochs=epochs, batch_size=batch_size, rng=rng)
        row.update(imp_psnr=psnr(Y.ravel(), r.net(X).ravel()), imp_time=r.time, imp_peak_memory=r.peak_memory)
    return row


def planted_mlp_grid(ms, ss, seeds=(0,), *, progress=True, **kwargs):
    """Run :func:`planted_mlp` over the grid ``ms x ss x seeds`` (cells with s > capacity skipped).

    Returns
    -------
    list of dict, one per cell (see :func:`planted_mlp`).
    """
    cells = [(m, s, seed) for m in ms for s in ss for seed in seeds]
    layers = kwargs.get("layers", 1)
    d = kwargs.get("d", 100)
    rows = []
    for m, s, seed in tqdm(cells, desc="planted MLP", disable=not progress):
        if not layers <= s <= capacity(m, d, layers):
            continue
        rows.append(planted_mlp(m, s, seed, **kwargs))
    return rows


def working_set(n, d, m, s, *, block=None, method="niht", iters=3, rng=0):
    """Peak working memory of IHT on a ReLU-pattern problem, estimated and measured.

    Plants ``s`` random fused weights on ``m`` seeded generators and runs
    ``iters`` iterations.

    Returns
    -------
    dict
        ``n, d, m, s, block, row_block``; ``estimate`` (bytes, from the
        arrays the solver and operator hold, :attr:`RecoveryResult.peak_memory`);
        ``measured`` (bytes, tracemalloc peak during the solve: NumPy
        allocations, not Numba's); ``data`` (bytes of X and its transpose,
        not counted in either). The working set is O(row_block * block + n *
        block / 8 + n * min(2 s, m) + s) bytes: one tile, one block's masks,
        byte masks of the blocks the support and the candidates touch.
    """
    n, d, m, s = (check_int(v, k, low=1) for v, k in ((n, "n"), (d, "d"), (m, "m"), (s, "s")))
    method = check_option(method, "method", {"iht", "niht", "aiht", "htp"})
    rng = check_rng(rng)
    X = rng.standard_normal((n, d))
    A = ReluPatternOperator(X, m, rng=rng, block=block)
    A.XT
    idx = np.sort(rng.choice(m * d, min(s, m * d), replace=False))
    y = A.matvec(SparseVector(idx, rng.standard_normal(idx.size), m * d))
    iht(A, y, idx.size, method=method, max_iter=1, progress=False)  # warm caches and kernels
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    res = iht(A, y, idx.size, method=method, max_iter=iters, progress=False)
    measured = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return {
        "n": n, "d": d, "m": m, "s": s, "block": A.block, "row_block": A.row_block,
        "estimate": res.peak_memory, "measured": int(measured), "data": 2 * X.nbytes,
    }


# ------------------------------------------------------------ sweep experiments
def _size(default=None):
    """A positive integer size (required when ``default`` is None)."""
    return Param(int, low=1) if default is None else Param(int, default, low=1)


_GAUSSIAN = {
    "n": _size(), "N": _size(), "s": _size(),
    # the phase-diagram cell (delta = n/N, rho = s/n) an instance was drawn for: recorded with it, not used
    "cell_delta": Param(float, None, low=0.0), "cell_rho": Param(float, None, low=0.0),
}


def _s_at_most_N(p):
    if p["s"] > p["N"]:
        raise ValueError(f"s = {p['s']} exceeds N = {p['N']}")


def _fits_mlp(p):
    cap = capacity(p["m"], p["d"], p["layers"])
    if not p["layers"] <= p["s"] <= cap:
        raise ValueError(f"s = {p['s']} must lie in [layers, {cap}] for m = {p['m']}, d = {p['d']}, layers = {p['layers']}")


def _fits_vector(p):
    cap = p["m"] * (p["d"] + p["k"])
    if not 2 <= p["s"] <= cap:
        raise ValueError(f"s = {p['s']} must lie in [2, m (d + k) = {cap}]")


def _hidden_widths(p):
    parts = p["widths"].split("-")
    if not all(w.isdigit() and int(w) > 0 for w in parts):
        raise ValueError(f"widths must be positive hidden widths joined by '-', like '128-64', got {p['widths']!r}")


_DEVICE = Param(str, None)


@register("gaussian_recovery", {**_GAUSSIAN, "method": Param(str, "niht", choices=METHODS), "max_iter": _size(500)},
          _s_at_most_N)
def gaussian_recovery(params, seed):
    """One Gaussian recovery trial: plant (n, N, s), recover with ``params["method"]``.

    Returns ``success`` (relative error <= SUCCESS_TOL), ``rel_error``,
    ``iterations``, ``time``, ``delta = n/N`` and ``rho = s/n``.
    """
    n, N, s = int(params["n"]), int(params["N"]), int(params["s"])
    p = planted_gaussian(n, N, s, rng=seed)
    res = iht(p.A, p.y, s, method=params.get("method", "niht"), max_iter=int(params.get("max_iter", 500)), progress=False)
    err = relative_error(res.w, p.w)
    return {"success": err <= SUCCESS_TOL, "rel_error": err, "iterations": res.n_iter, "time": res.time,
            "delta": n / N, "rho": s / n}


@register("l1_recovery", _GAUSSIAN, _s_at_most_N)
def l1_recovery(params, seed):
    """Basis pursuit (min ||w||_1 s.t. A w = y) by SciPy's linprog on a planted Gaussian problem."""
    from scipy.optimize import linprog

    n, N, s = int(params["n"]), int(params["N"]), int(params["s"])
    p = planted_gaussian(n, N, s, rng=seed)
    A = p.A.to_dense()
    t0 = time.perf_counter()
    # variables [w, u]: minimise sum u subject to -u <= w <= u, A w = y
    I = np.eye(N)
    res = linprog(np.r_[np.zeros(N), np.ones(N)], A_ub=np.block([[I, -I], [-I, -I]]), b_ub=np.zeros(2 * N),
                  A_eq=np.hstack([A, np.zeros((n, N))]), b_eq=p.y, bounds=[(None, None)] * N + [(0, None)] * N,
                  method="highs")
    w = res.x[:N] if res.success else np.zeros(N)
    err = relative_error(w, p.w)
    return {"success": err <= SUCCESS_TOL, "rel_error": err, "iterations": int(getattr(res, "nit", 0) or 0),
            "time": time.perf_counter() - t0, "delta": n / N, "rho": s / n}


RELU_VARIANTS = ("true", "true+random", "gaussian")


def _s_fits_relu(p):
    if p["s"] > capacity(p["m"], p["d"]):
        raise ValueError(f"s = {p['s']} exceeds m d = {capacity(p['m'], p['d'])}")


@register("relu_recovery", {
    "n": _size(), "d": _size(), "m": _size(), "s": _size(), "variant": Param(str, "true", choices=RELU_VARIANTS),
    "method": Param(str, "niht", choices=METHODS), "max_iter": _size(300),
}, _s_fits_relu)
def relu_recovery(params, seed):
    """One fixed-pattern recovery trial of a planted two-layer ReLU net (the sample-complexity law).

    ``variant``: ``"true"`` -- the operator's generators are the planted ones
    (N = m d columns); ``"true+random"`` -- the planted generators among as many
    random ones (N = 2 m d, the planted weights on the first m units);
    ``"gaussian"`` -- a Gaussian A of the same n, N = m d and s, for comparison.
    Success: relative weight error <= SUCCESS_TOL. Returns ``success``,
    ``rel_error``, ``iterations`` and ``x = s log(m d / s)``.
    """
    n, d, m, s = (int(params[k]) for k in ("n", "d", "m", "s"))
    variant = params.get("variant", "true")
    p = planted_gaussian(n, m * d, s, rng=seed) if variant == "gaussian" else planted_relu(n, d, m, s, rng=seed)
    A, w = p.A, p.w
    if variant == "true+random":
        H = np.vstack([p.A.generators(), np.random.default_rng([seed, 1]).standard_normal((m, d))])
        A, w = ReluPatternOperator(p.X, H), SparseVector(w.indices, w.values, 2 * m * d)
    res = iht(A, p.y, s, method=params.get("method", "niht"), max_iter=int(params.get("max_iter", 300)), progress=False)
    err = relative_error(res.w, w)
    return {"success": err <= SUCCESS_TOL, "rel_error": err, "iterations": res.n_iter, "x": s * np.log(m * d / s)}


@register("planted_mlp", {
    "m": _size(), "s": _size(), "n": _size(50000), "d": _size(100), "layers": _size(1),
    "method": Param(str, "aiht", choices=METHODS), "sequential": Param(bool, True), "max_iter": _size(15),
    "inner_iter": Param(int, 3, low=0), "imp_baseline": Param(bool, False), "imp_epochs": _size(15), "device": _DEVICE,
}, _fits_mlp)
def _planted_mlp_cell(params, seed):
    """A :func:`planted_mlp` cell (parameters as its keyword arguments)."""
    kw = dict(params)
    return {k: v for k, v in planted_mlp(kw.pop("m"), kw.pop("s"), seed, **kw).items() if k not in ("seed",)}


@register("planted_vector", {
    "m": _size(), "s": _size(), "n": _size(50000), "d": _size(100), "k": _size(10), "epochs": _size(100),
    "batch_size": _size(5000), "imp_baseline": Param(bool, False), "device": _DEVICE,
}, _fits_vector)
def _planted_vector_cell(params, seed):
    """A :func:`planted_vector` cell (parameters as its keyword arguments)."""
    kw = dict(params)
    return {k: v for k, v in planted_vector(kw.pop("m"), kw.pop("s"), seed, **kw).items() if k != "seed"}


@register("pruning", {
    "method": Param(str, choices=PRUNING_METHODS), "keep": Param(float, low=1e-9, high=1.0),
    "dataset": Param(str, "digits", choices=tuple(DATASETS)), "widths": Param(str, "128-64"),
    "epochs": _size(20), "lr": Param(float, 1e-3, low=1e-12), "batch_size": _size(64), "n_train": Param(int, None, low=1),
    "eps": Param(float, 1e-3, low=0.0), "mu_eq": Param(float, 0.5, low=0.0, high=1.0), "root": Param(str, None),
    "bingo_subset": Param(float, 0.05, low=1e-9, high=1.0), "bingo_probes": _size(4),
}, _hidden_widths)
def _pruning_cell(params, seed):
    """A :func:`sparsecert.prune.compare.pruning_cell` (one method at one kept fraction)."""
    from .prune.compare import pruning_cell

    return pruning_cell(params, seed)
