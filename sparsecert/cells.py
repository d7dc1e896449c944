"""The built-in sweep cells (:mod:`sparsecert.sweep`): ``f(params, seed) -> dict of scalars`` with declared
parameters; the registry names them as ``"sparsecert.cells:function"``, imported on first use."""

from __future__ import annotations

import time

import numpy as np

from .data import DATASETS
from .models import planted_gaussian, planted_relu
from .operators import DenseOperator, ReluPatternOperator
from .recovery import iht
from .certify import pattern_statistics
from .metrics import relative_error
from .sparse import SparseVector
from .prune.compare import METHODS as PRUNING_METHODS
from .recovery import METHODS
from .registry import Param, register
from .configs import IHT, Minibatch, Sequential
from .planted import Baselines, capacity, planted_mlp, planted_vector

__all__ = [
    "SUCCESS_TOL",
    "RELU_VARIANTS",
    "gaussian_recovery",
    "l1_recovery",
    "relu_recovery",
    "planted_mlp_cell",
    "planted_vector_cell",
    "planted_constants",
    "pruning_cell",
]

#: Relative error below which a recovery counts as a success in phase diagrams.
SUCCESS_TOL = 1e-4

#: :func:`relu_recovery` solves on the explicit matrix of an operator with at most this many entries
DENSE_ENTRIES = 2**22

#: :func:`relu_recovery`'s ``close_pairs``: planted patterns closer than this normalised Hamming distance
CLOSE_PAIRS = 0.05


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


def _fits_mlp_one_layer(p):
    _fits_mlp({**p, "layers": 1})


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
    res = iht(p.A, p.y, s, solver=IHT(method=params.get("method", "niht"), max_iter=int(params.get("max_iter", 500))), progress=False)
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

    Success: the network is recovered -- relative error of the fitted outputs on
    ``2 N`` fresh samples (new X, the same generators; new Gaussian rows for the
    Gaussian A) at most SUCCESS_TOL. Where two units share a generator (two planted
    units with one weight each on the same feature and of the same sign), their
    columns are equal and the weights are not identifiable at any n, while the
    network is; ``weights_recovered`` (relative weight error at most SUCCESS_TOL) is
    kept beside it. Returns ``success``, ``weights_recovered``, ``rel_error`` (of the
    weights), ``iterations``, ``x = s log(m d / s)`` and what Assumption 2 and Lemma 1
    speak of, measured on the instance: ``alpha``, ``beta`` and ``kappa = beta / alpha``,
    the extreme eigenvalues of ``A_S^T A_S`` on the planted support S divided by the mean squared
    norm of its columns (1 and 1 for orthogonal columns of equal norm), and for the ReLU
    variants the planted patterns' (units with weights; NaN for the Gaussian A)
    ``coverage`` (eps), ``separation`` (gamma), ``distinct`` patterns and ``close_pairs``
    (the fraction of pairs closer than CLOSE_PAIRS; :func:`sparsecert.certify.pattern_statistics`).
    """
    n, d, m, s = (int(params[k]) for k in ("n", "d", "m", "s"))
    variant = params.get("variant", "true")
    p = planted_gaussian(n, m * d, s, rng=seed) if variant == "gaussian" else planted_relu(n, d, m, s, rng=seed)
    A, w = p.A, p.w
    if variant == "true+random":
        H = np.vstack([p.A.generators(), np.random.default_rng([seed, 1]).standard_normal((m, d))])
        A, w = ReluPatternOperator(p.X, H), SparseVector(w.indices, w.values, 2 * m * d)
    # the explicit matrix (a few MB at most here): the solver then runs NIHT as one compiled call
    M = (DenseOperator(np.ascontiguousarray(A.restrict(np.arange(A.shape[1])).to_dense(), float))
         if A.shape[0] * A.shape[1] <= DENSE_ENTRIES else A)
    res = iht(M, p.y, s, solver=IHT(method=params.get("method", "niht"), max_iter=int(params.get("max_iter", 300))), progress=False)
    fresh = np.random.default_rng([seed, 2]).standard_normal((2 * A.shape[1], m * d if variant == "gaussian" else d))
    At = fresh if variant == "gaussian" else ReluPatternOperator(fresh, A.generators())
    diff = res.w.to_dense() - w.to_dense()
    out_err = float(np.linalg.norm(At @ diff)) / max(float(np.linalg.norm(At @ w.to_dense())), np.finfo(float).tiny)
    err = relative_error(res.w, w)
    return {"success": out_err <= SUCCESS_TOL, "weights_recovered": err <= SUCCESS_TOL, "rel_error": err,
            "iterations": res.n_iter, "x": s * np.log(m * d / s), **_instance(p, A, w, d, variant)}


def _instance(p, A, w, d, variant):
    """:func:`relu_recovery`'s measured quantities of the instance (see there)."""
    S = w.indices
    A_S = A.restrict(S).to_dense()
    G = A_S.T @ A_S
    eig = np.linalg.eigvalsh(G / max(np.trace(G) / len(S), np.finfo(float).tiny))
    out = {"alpha": float(eig[0]), "beta": float(eig[-1]),
           "kappa": float(eig[-1] / eig[0]) if eig[0] > 0 else np.inf}
    if variant == "gaussian":
        return {**out, "coverage": np.nan, "separation": np.nan, "distinct": np.nan, "close_pairs": np.nan}
    st = pattern_statistics(p.X, p.A.generators()[np.unique(S // d)], gamma=CLOSE_PAIRS)
    return {**out, "coverage": st["coverage"], "separation": st["separation"], "distinct": st["distinct"],
            "close_pairs": st["violating"]}


@register("planted_mlp", {
    "m": _size(), "s": _size(), "n": _size(50000), "d": _size(100), "layers": _size(1),
    "method": Param(str, "aiht", choices=METHODS), "sequential": Param(bool, True), "max_iter": _size(15),
    "inner_iter": Param(int, 3, low=0), "imp_baseline": Param(bool, False), "imp_epochs": _size(15), "imp_tuned": Param(bool, False),
    "device": _DEVICE, "measure_memory": Param(bool, False),
}, _fits_mlp)
def planted_mlp_cell(params, seed):
    """A :func:`planted_mlp` cell (its keyword arguments, the configuration objects' fields flat)."""
    kw = dict(params)
    solver = IHT(**{f: kw.pop(f) for f in ("method", "max_iter", "inner_iter")})
    baselines = Baselines(kw.pop("imp_baseline"), kw.pop("imp_epochs"), kw.pop("imp_tuned"))
    rule = Sequential() if kw.pop("sequential") else None
    row = planted_mlp(kw.pop("m"), kw.pop("s"), seed, solver=solver, rule=rule, baselines=baselines, **kw)
    return {k: v for k, v in row.items() if k != "seed"}


@register("planted_vector", {
    "m": _size(), "s": _size(), "n": _size(50000), "d": _size(100), "k": _size(10), "epochs": _size(100),
    "batch_size": _size(5000), "imp_baseline": Param(bool, False), "device": _DEVICE,
    "minibatch": Param(bool, False), "measure_memory": Param(bool, False),
}, _fits_vector)
def planted_vector_cell(params, seed):
    """A :func:`planted_vector` cell (its keyword arguments, ``batches``' fields flat)."""
    kw = dict(params)
    batches = Minibatch(kw.pop("batch_size"), kw.pop("epochs"))
    return {k: v for k, v in planted_vector(kw.pop("m"), kw.pop("s"), seed, batches=batches, **kw).items() if k != "seed"}


@register("pruning", {
    "method": Param(str, choices=PRUNING_METHODS), "keep": Param(float, low=1e-9, high=1.0),
    "dataset": Param(str, "digits", choices=tuple(DATASETS)), "widths": Param(str, "128-64"),
    "epochs": _size(20), "lr": Param(float, 1e-3, low=1e-12), "batch_size": _size(64), "n_train": Param(int, None, low=1),
    "eps": Param(float, 1e-3, low=0.0), "mu_eq": Param(float, 0.5, low=0.0, high=1.0), "root": Param(str, None),
    "bingo_subset": Param(float, 0.05, low=1e-9, high=1.0), "bingo_probes": _size(4),
}, _hidden_widths)
def pruning_cell(params, seed):
    """A :func:`sparsecert.prune.compare.pruning_cell` (one method at one kept fraction)."""
    from .prune.compare import pruning_cell as compare

    return compare(params, seed)


def _support_extremes(A, S):
    """Extreme eigenvalues of ``A_S^T A_S``, and of it with one column of each group of parallel columns
    (units sharing a generator: alpha ~ 0 whatever n), with the number of columns merged away."""
    C = A.restrict(S).to_dense()
    G = C.T @ C
    norms = np.sqrt(np.diag(G))
    cos = G / np.maximum(np.outer(norms, norms), np.finfo(float).tiny)
    first = ~np.tril(cos > 1 - 1e-9, -1).any(axis=1)
    whole, merged = np.linalg.eigvalsh(G), np.linalg.eigvalsh(G[np.ix_(first, first)])
    return (float(whole[0]), float(whole[-1])), (float(merged[0]), float(merged[-1]), int(len(S) - first.sum()))


@register("planted_constants", {
    "m": _size(), "s": _size(), "n": _size(50000), "d": _size(100), "draws": Param(int, 3, low=0),
    "fit": Param(bool, False),
}, _fits_mlp_one_layer)
def planted_constants(params, seed):
    """Lemma 1's constants on the planted instance of :func:`sparsecert.planted.planted_mlp` (one hidden
    layer, the same draw for the same seed), and the relaxed-IHT certificate at ``s~ = s``.

    Returns ``alpha``, ``beta`` (per sample: eigenvalues of ``A_S^T A_S / n``) and ``kappa`` on the
    planted support S of the convex reformulation's operator (planted generators, N = m d columns);
    ``kappa_k_lower``, ``alpha_k_upper``, ``beta_k_lower``: attained on ``draws`` supports of size
    ``k = 3 s`` (``2 s~ + s``, Jain-Tewari-Kar's, with ``s~ = s``) made of S and ``2 s`` random columns,
    parallel columns merged (NaN where ``k > N``; by interlacing ``kappa_k_lower >= kappa_distinct``);
    ``parallel``: planted columns parallel to another one (units sharing a generator: alpha ~ 0 at any n,
    their weights not identifiable while the network is) and ``kappa_distinct``, kappa with one column
    of each parallel group; ``jtk_needed = 32 kappa_distinct^2``: a lower bound on the ``s~ / s`` their
    Theorem 1 asks for (``s~ >= 32 kappa_k^2 s``) once parallel columns are merged (with them,
    ``alpha_k = 0`` for every k >= 2 and the theorem never applies), and ``jtk_verdict``: ``"fails"``
    when the attained kappa already exceeds the theorem's ``sqrt(s~ / (32 s))`` at ``s~ = s``. With
    ``fit``: also ``psnr`` of the IHT fit of :func:`~sparsecert.planted.planted_mlp` on the same instance.
    """
    from .certify import JTK_C

    n, d, m, s, draws = (int(params[k]) for k in ("n", "d", "m", "s", "draws"))
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    p = planted_relu(n, d, m, s, rng=rng)
    S = p.w.indices
    (alpha, beta), (a_merged, b_merged, parallel) = _support_extremes(p.A, S)
    N, k = p.A.shape[1], 3 * s
    out = {"alpha": alpha / n, "beta": beta / n, "kappa": beta / alpha if alpha > 0 else np.inf,
           "parallel": parallel, "kappa_distinct": b_merged / a_merged if a_merged > 0 else np.inf,
           "alpha_k_upper": np.nan, "beta_k_lower": np.nan, "kappa_k_lower": np.nan}
    if k <= N and draws:
        g = np.random.default_rng([seed, 3])
        others = np.setdiff1d(np.arange(N), S)
        eigs = [_support_extremes(p.A, np.union1d(S, g.choice(others, k - s, replace=False)))[1]
                for _ in range(draws)]
        a, b = min(e[0] for e in eigs), max(e[1] for e in eigs)
        out.update(alpha_k_upper=a / n, beta_k_lower=b / n, kappa_k_lower=b / a if a > 0 else np.inf)
    kappa_attained = np.nanmax([out["kappa_distinct"], out["kappa_k_lower"]])
    out.update(jtk_needed=JTK_C * out["kappa_distinct"] ** 2,
               jtk_verdict="fails" if kappa_attained > np.sqrt(1.0 / JTK_C) else "unknown",
               time=time.perf_counter() - t0)
    if params.get("fit", False):
        out["psnr"] = float(planted_mlp(m, s, seed, n=n, d=d)["psnr"])
    return out
