"""Every method of the peer benchmark as ``fit(method, A, y, s) -> coef`` (tests/bench/test_bench_peers.py).

Ours: ``portfolio`` (SparseRegressor's default: OMP, HTP, AMP and the MCP path until one fits
exactly), ``htp`` (``restart="omp"``, the 0.4 recipe), ``htp-plain`` (HTP alone), ``omp-ours``.

Peers (optional: ``pip install sparsecert[bench]``; a missing one is skipped):

* ``omp``: scikit-learn's ``OrthogonalMatchingPursuit(n_nonzero_coefs=s)``.
* ``abess``: ``abess.LinearRegression(support_size=s)`` on ``y`` scaled by 1e6 (at unit scale its
  default tolerances stop it early, relative error ~0.35 on these instances; scaled it recovers them).
* ``skglm-mcp`` / ``skglm-l05``: skglm's MCP (gamma = 3) / L0.5 penalties along a path of 50
  regularisation values from ``alpha_max = ||A^T y||_inf / n`` down to ``1e-3 alpha_max``
  (warm-started, tol 1e-8; L0.5 with the ``"fixpoint"`` working sets, as its default never leaves 0),
  least squares on the ``s`` largest coefficients of every path point, the fit of smallest
  residual kept (an oracle-free choice that only helps the peer); A and y are scaled by
  ``sqrt(n)`` so that skglm's ``1 / (2n)`` datafit has unit-norm columns, as its concave
  penalties' coordinate updates need.
* ``spgl1``: SPGL1's basis pursuit ``min ||w||_1 s.t. A w = y``, then least squares on its ``s``
  largest coefficients.
"""

from __future__ import annotations

import importlib
import warnings

import numpy as np


def installed(method: str) -> bool:
    """Whether the package a method needs imports."""
    module = {"omp": "sklearn", "abess": "abess.linear", "skglm-mcp": "skglm", "skglm-l05": "skglm",
              "spgl1": "spgl1", "scnn": "scnn.optimize"}.get(method)
    if module is None:
        return True
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


def _top_ls(A, y, c, s):
    """Least squares on the s largest |c_j| (nonzero ones): a dense coefficient vector."""
    S = np.argsort(-np.abs(c), kind="stable")[:s]
    S = S[c[S] != 0]
    w = np.zeros(A.shape[1])
    if S.size:
        w[S] = np.linalg.lstsq(A[:, S], y, rcond=None)[0]
    return w


def _skglm_path(A, y, s, penalty):
    from skglm import GeneralizedLinearEstimator
    from skglm.datafits import Quadratic
    from skglm.penalties import L0_5, MCPenalty
    from skglm.solvers import AndersonCD

    n = A.shape[0]
    As, ys = A * np.sqrt(n), y * np.sqrt(n)
    alpha_max = np.max(np.abs(As.T @ ys)) / n  # the smallest alpha with w = 0 for MCP (and L1)
    # L0.5's subdifferential at 0 is the whole line: its default working-set rule never adds a feature
    solver = AndersonCD(fit_intercept=False, warm_start=True, tol=1e-8,
                        ws_strategy="subdiff" if penalty == "mcp" else "fixpoint")
    best, best_res = np.zeros(A.shape[1]), np.inf
    est = None
    for alpha in alpha_max * np.geomspace(1, 1e-3, 50):
        pen = MCPenalty(alpha, 3.0) if penalty == "mcp" else L0_5(alpha)
        if est is None:
            est = GeneralizedLinearEstimator(Quadratic(), pen, solver)
        else:
            est.penalty = pen
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est.fit(As, ys)
        c = est.coef_
        w = _top_ls(A, y, c, s)
        res = np.linalg.norm(y - A @ w)
        if res < best_res:
            best, best_res = w, res
        if best_res <= 1e-10 * np.linalg.norm(y) or np.count_nonzero(c) > n // 2:
            break
    return best


def fit(method: str, A: np.ndarray, y: np.ndarray, s: int) -> np.ndarray:
    """Coefficients (N,) of an s-sparse fit of y ~ A w by ``method``."""
    from sparsecert.estimators import SparseRegressor

    ours = {"portfolio": {}, "htp": {"restart": "omp"}, "htp-plain": {"restart": None, "splice": 0},
            "omp-ours": {"method": "omp", "restart": None}}
    if method in ours:
        return SparseRegressor(s, fit_intercept=False, **ours[method]).fit(A, y).coef_
    if method == "omp":
        from sklearn.linear_model import OrthogonalMatchingPursuit

        return OrthogonalMatchingPursuit(n_nonzero_coefs=s, fit_intercept=False).fit(A, y).coef_
    if method == "abess":
        from abess.linear import LinearRegression

        return LinearRegression(support_size=s, fit_intercept=False).fit(A, y * 1e6).coef_ / 1e6
    if method in ("skglm-mcp", "skglm-l05"):
        return _skglm_path(A, y, s, method[6:])
    if method == "spgl1":
        import spgl1

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            c = spgl1.spg_bp(A, y, verbosity=0)[0]
        return _top_ls(A, y, c, s)
    raise ValueError(f"unknown method {method!r}")


OURS = ["portfolio", "htp", "htp-plain", "omp-ours"]
PEERS = ["omp", "abess", "skglm-mcp", "skglm-l05", "spgl1"]


def scnn_gated(X: np.ndarray, y: np.ndarray, seed: int):
    """scnn's gated-ReLU fit (group L1 by R-FISTA) tuned as a user would: 100 or 500 gate vectors and
    the strength in {1e-2, 1e-3, 1e-4, 1e-5}, chosen by the squared error on a held-out fifth.

    scnn (PyPI ``pyscnn``) is not in the ``bench`` extra: it requires torchvision, whose wheel brings a
    CUDA torch in place of the pinned CPU one. It runs in an environment that borrows this project's
    packages::

        python3 -m venv /tmp/scnnvenv --system-site-packages
        /tmp/scnnvenv/bin/pip install --no-deps pyscnn==0.0.10 linalg_backends==0.0.1b0 opt_einsum tqdm
        /tmp/scnnvenv/bin/pip install cvxpy
        PYTHONPATH=.venv/lib/python3.11/site-packages:. /tmp/scnnvenv/bin/python -m pytest \\
            tests/bench/test_bench_from_scratch.py --benchmark-enable --benchmark-only -s

    Returns the fitted model (``model(X)`` predicts) and its nonzero weights.
    """
    from scnn.optimize import optimize
    from scnn.regularizers import NeuronGL1

    cut = int(0.8 * len(y))
    best = None
    for neurons in (100, 500):
        for lam in (1e-2, 1e-3, 1e-4, 1e-5):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model, _ = optimize("gated_relu", neurons, X[:cut], y[:cut], regularizer=NeuronGL1(lam),
                                    dtype="float64", seed=seed)
            val = float(np.mean((model(X[cut:]).ravel() - y[cut:]) ** 2))
            if best is None or val < best[0]:
                best = (val, model)
    model = best[1]
    return model, int(np.count_nonzero(np.abs(model.parameters[0]) > 1e-10))
