"""Restricted eigenvalues of ``A_S^T A_S``, the RIP constant they give (by enumeration, by sampling),
and the relaxed-IHT guarantee of Jain, Tewari & Kar (2014)."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..validation import check_int, check_rng

from .base import Certificate, check_certify_support, gram_rows, real_operator

if TYPE_CHECKING:
    from ..typing import ArrayLike, RngLike
    from scipy.sparse.linalg import LinearOperator


__all__ = [
    "rip_exact",
    "rip_sampled",
    "RestrictedEigenvalues",
    "restricted_eigenvalues",
    "support_eigenvalues",
    "relaxed_iht",
    "JTK_C",
]


@dataclass
class RestrictedEigenvalues:
    """Brackets of the restricted eigenvalues of ``A`` on supports of size ``k``.

    ``alpha_k = min`` and ``beta_k = max`` of the eigenvalues of ``A_S^T A_S``
    over ``|S| <= k`` (by Cauchy interlacing, the extremes are taken at
    ``|S| = k``): ``alpha_lower <= alpha_k <= alpha_upper`` and
    ``beta_lower <= beta_k <= beta_upper``. ``method="exact"``: every support was
    enumerated (lower = upper). ``"bounds"``: ``alpha_lower`` and ``beta_upper``
    are certified (Gershgorin discs of ``A^T A`` with the k - 1 largest
    off-diagonal entries of each row), ``alpha_upper`` and ``beta_lower`` are
    attained on supports found by sampling and greedy search (``supports``).
    """

    k: int
    alpha_lower: float
    alpha_upper: float
    beta_lower: float
    beta_upper: float
    method: str
    supports: dict = field(default_factory=dict)

    @property
    def kappa_upper(self) -> float:
        """A certified upper bound on the restricted condition number ``beta_k / alpha_k``."""
        return self.beta_upper / self.alpha_lower if self.alpha_lower > 0 else math.inf

    @property
    def kappa_lower(self) -> float:
        """A lower bound on ``beta_k / alpha_k`` (attained ratios of found supports)."""
        return self.beta_lower / self.alpha_upper if self.alpha_upper > 0 else math.inf


def support_eigenvalues(A: LinearOperator | ArrayLike, support: ArrayLike) -> tuple[float, float]:
    """``(alpha_S, beta_S)``: the smallest and largest eigenvalue of ``A_S^T A_S`` on one support.

    Exact (one k x k eigen-decomposition after forming the n x k columns, k the support's size:
    O(n k^2) time, O(n k) memory). By Cauchy interlacing, every support containing S has
    ``alpha_k <= alpha_S`` and ``beta_k >= beta_S``: the ratio is a lower bound on the restricted
    condition number ``kappa_k`` for every k at least the size of S.
    """
    A = real_operator(A)
    S, _ = check_certify_support(support, A.shape[1])
    C = A.restrict(S).to_dense()
    ev = np.linalg.eigvalsh(C.T @ C)
    return float(ev[0]), float(ev[-1])


def _extreme_eigs(M, S):
    ev = np.linalg.eigvalsh(M[:, S].T @ M[:, S])
    return float(ev[0]), float(ev[-1])


def restricted_eigenvalues(
    A: LinearOperator | ArrayLike,
    k: int,
    *,
    budget: int = 200_000,
    n_random: int = 200,
    rng: RngLike = None,
    block: int = 256,
) -> RestrictedEigenvalues:
    """Restricted eigenvalues ``alpha_k``, ``beta_k`` of ``A`` (the RSC and RSS constants of
    ``f(w) = ||y - A w||^2 / 2`` on k-sparse vectors), exact or bracketed.

    Parameters
    ----------
    A : SparseSensingOperator or ndarray, shape (n, N)
        Any operator, the implicit ReLU-pattern one included.
    k : int
        Support size, ``1 <= k <= N``.
    budget : int
        Most supports to enumerate exactly (``C(N, k)``); beyond it, bounds.
    n_random : int
        Random supports tried for the attained side of the brackets.
    rng : int or Generator
    block : int
        Columns per block of the Gram rows (the certified side).

    Returns
    -------
    RestrictedEigenvalues

    Notes
    -----
    Exact: ``C(N, k)`` eigen-decompositions of k x k matrices. Bounds: one pass
    over the Gram rows (O(n N^2) time, O(n block + N) memory) plus
    ``n_random + 4 N k`` small eigen-decompositions (the greedy search grows
    a support one column at a time from the best random one, for the smallest
    and for the largest eigenvalue; it needs the N columns in memory).
    """
    A = real_operator(A)
    n, N = A.shape
    k = check_int(k, "k", low=1, high=N)
    if math.comb(N, k) <= check_int(budget, "budget", low=0):
        M = A.restrict(np.arange(N)).to_dense()
        lo, hi, S_lo, S_hi = math.inf, -math.inf, None, None
        for S in itertools.combinations(range(N), k):
            a, b = _extreme_eigs(M, list(S))
            if a < lo:
                lo, S_lo = a, S
            if b > hi:
                hi, S_hi = b, S
        return RestrictedEigenvalues(k, lo, lo, hi, hi, "exact", {"alpha": np.array(S_lo), "beta": np.array(S_hi)})
    # certified side: every eigenvalue of G_S lies in a Gershgorin disc of G_S, whose radius is at
    # most the sum of the k - 1 largest |G_ij| (j != i) of row i of the whole Gram matrix
    lower, upper = math.inf, -math.inf
    for i0, rows in gram_rows(A, block, normalise=False):
        at = (np.arange(rows.shape[0]), i0 + np.arange(rows.shape[0]))
        diag = rows[at]
        G = np.abs(rows)
        G[at] = 0.0
        radius = -np.sort(-G, axis=1)[:, : k - 1].sum(axis=1) if k > 1 else np.zeros(rows.shape[0])
        lower = min(lower, float((diag - radius).min()))
        upper = max(upper, float((diag + radius).max()))
    # attained side: random supports, then greedy growth towards the extremes
    rng = check_rng(rng)
    M = A.restrict(np.arange(N)).to_dense()
    found: dict[str, tuple[float, Any]] = {"alpha": (math.inf, None), "beta": (-math.inf, None)}
    for _ in range(check_int(n_random, "n_random", low=0)):
        drawn = [int(j) for j in np.sort(rng.choice(N, k, replace=False))]
        a, b = _extreme_eigs(M, drawn)
        found["alpha"] = min(found["alpha"], (a, drawn), key=lambda t: t[0])
        found["beta"] = max(found["beta"], (b, drawn), key=lambda t: t[0])
    for side, pick in (("alpha", 0), ("beta", 1)):
        start = found[side][1][0] if found[side][1] is not None else int(rng.integers(N))
        grown = [int(start)]
        while len(grown) < k:
            rest = np.setdiff1d(np.arange(N), grown)
            vals = [_extreme_eigs(M, grown + [int(c)])[pick] for c in rest]
            grown.append(int(rest[int(np.argmin(vals) if side == "alpha" else np.argmax(vals))]))
        val = _extreme_eigs(M, grown)[pick]
        better = val < found[side][0] if side == "alpha" else val > found[side][0]
        if better:
            found[side] = (val, sorted(grown))
    (a_up, S_a), (b_lo, S_b) = found["alpha"], found["beta"]
    return RestrictedEigenvalues(k, max(lower, 0.0), a_up, b_lo, upper, "bounds",
                                 {"alpha": np.array(S_a), "beta": np.array(S_b)})


#: Jain, Tewari & Kar (2014), Theorem 1: projection size s~ >= C kappa^2 s with C = 32.
JTK_C = 32.0


def relaxed_iht(A: LinearOperator | ArrayLike, s: int, s_project: int, **kwargs) -> Certificate:
    """The relaxed-IHT guarantee of Jain, Tewari & Kar (2014) for least squares on ``A``.

    Their Theorem 1 (On iterative hard thresholding methods for high-dimensional
    M-estimation, NeurIPS 2014; arXiv:1410.5137; read here from a summary that
    quotes it, the paper itself not being available offline), for a loss
    ``f`` with restricted strong smoothness ``L = L_{2 s~ + s*}(f)`` and restricted
    strong convexity ``alpha = alpha_{2 s~ + s*}(f)``: IHT that projects onto
    ``s~ >= 32 (L / alpha)^2 s*`` nonzeros with step ``eta = 2 / (3 L)`` reaches
    ``f(w_tau) - f(w*) <= eps`` after ``tau = O((L / alpha) log(f(w_0) / eps))``
    iterations, ``w*`` the best s*-sparse minimiser. For ``f(w) = ||y - A w||^2 / 2``,
    ``L`` and ``alpha`` are the restricted eigenvalues ``beta_k``, ``alpha_k`` of
    ``A`` at ``k = 2 s~ + s*`` (:func:`restricted_eigenvalues`). The theorem's O()
    constant is not stated, so the iteration bound is given as its order.

    Parameters
    ----------
    A : SparseSensingOperator or ndarray, shape (n, N)
    s : int
        Sparsity ``s*`` of the comparison point.
    s_project : int
        Projection size ``s~`` (``s <= s_project``; ``2 s~ + s <= N``).
    **kwargs
        Passed to :func:`restricted_eigenvalues`.

    Returns
    -------
    Certificate
        ``value``: kappa = beta_k / alpha_k (exact, or a certified upper bound;
        a lower bound found on supports when that already fails);
        ``threshold``: ``sqrt(s~ / (32 s))``, the largest kappa the theorem
        allows; evidence: the brackets, the step ``2 / (3 beta_k)`` and ``k``.
    """
    A = real_operator(A)
    N = A.shape[1]
    s = check_int(s, "s", low=1, high=N)
    s_project = check_int(s_project, "s_project", low=s)
    k = 2 * s_project + s
    if k > N:
        raise ValueError(f"2 s_project + s = {k} exceeds N = {N}: the theorem's supports do not exist")
    r = restricted_eigenvalues(A, k, **kwargs)
    limit = math.sqrt(s_project / (JTK_C * s))
    if r.kappa_upper <= limit:
        status, value, method = "holds", r.kappa_upper, "exact" if r.method == "exact" else "bound"
    elif r.kappa_lower > limit:
        status, value, method = "fails", r.kappa_lower, "exact" if r.method == "exact" else "sampled"
    else:
        status, value, method = "unknown", r.kappa_upper, "bound"
    step = 2.0 / (3.0 * r.beta_upper) if r.beta_upper > 0 else math.nan
    explanation = (f"kappa_{k} in [{r.kappa_lower:.4g}, {r.kappa_upper:.4g}]; the theorem needs kappa <= "
                   f"sqrt(s~ / (32 s)) = {limit:.4g}")
    if status == "holds":
        explanation += (f": with step 2/(3 beta) = {step:.4g}, f(w_tau) - f(w*) <= eps after "
                        f"O({r.kappa_upper:.3g} log(f(w_0) / eps)) iterations")
    return Certificate(f"relaxed IHT (Jain-Tewari-Kar Thm 1), s~={s_project}", value, limit, status, method,
                       explanation, {"k": np.array(k), "alpha": np.array([r.alpha_lower, r.alpha_upper]),
                                     "beta": np.array([r.beta_lower, r.beta_upper]), "step": np.array(step)})


def _delta(C):
    ev = np.linalg.eigvalsh(C.T @ C)
    return max(ev[-1] - 1.0, 1.0 - ev[0])


def rip_exact(A: LinearOperator | ArrayLike, k: int, *, budget: int = 200_000) -> Certificate:
    """Exact restricted isometry constant ``delta_k = max_{|S| = k} ||A_S^T A_S - I||_2`` by enumeration.

    Columns are used as they are (scale A first if its columns are not
    unit-norm). Refuses more than ``budget`` supports.

    Returns
    -------
    Certificate with ``value = delta_k`` (status "holds" when < 1: every k
    columns are independent) and the worst support as evidence.
    """
    A = real_operator(A)
    N = A.shape[1]
    k = check_int(k, "k", low=1, high=N)
    count = math.comb(N, k)
    if count > budget:
        raise ValueError(f"rip_exact enumerates C({N}, {k}) = {count} supports > budget={budget}; use rip_sampled")
    r = restricted_eigenvalues(A, k, budget=count)  # delta_k = max(beta_k - 1, 1 - alpha_k)
    lo, hi = r.alpha_lower, r.beta_upper
    worst, support = (hi - 1.0, r.supports["beta"]) if hi - 1.0 >= 1.0 - lo else (1.0 - lo, r.supports["alpha"])
    return Certificate(f"RIP delta_{k}", worst, 1.0, "holds" if worst < 1 else "fails", "exact",
                       f"delta_{k} = {worst:.4g}, attained on columns {support.tolist()}; restricted eigenvalues "
                       f"in [{lo:.3g}, {hi:.3g}]",
                       {"support": np.array(support), "lambda_min": np.array(lo), "lambda_max": np.array(hi)})


def rip_sampled(A: LinearOperator | ArrayLike, k: int, *, n_random: int = 200, rng: RngLike = None) -> Certificate:
    """A lower bound on ``delta_k``: random supports, then greedy growth of the worst one.

    The greedy search starts from the worst random support's first column and
    adds, one at a time, the column that most increases ``delta`` of the
    growing support (a local search for a bad support). Never exceeds the
    exact value.
    """
    A = real_operator(A)
    N = A.shape[1]
    k = check_int(k, "k", low=1, high=N)
    rng = check_rng(rng)
    M = A.restrict(np.arange(N)).to_dense()  # columns needed repeatedly; for N up to a few thousand
    worst, support = -1.0, None
    for _ in range(check_int(n_random, "n_random", low=0)):
        S = np.sort(rng.choice(N, k, replace=False))
        d = _delta(M[:, S])
        if d > worst:
            worst, support = d, S
    starts = [int(support[0])] if support is not None else []
    starts += [int(j) for j in rng.choice(N, min(N, 3), replace=False)]
    for j in starts:
        grown = [j]
        while len(grown) < k:
            rest = np.setdiff1d(np.arange(N), grown)
            scores = [_delta(M[:, grown + [int(c)]]) for c in rest]
            grown.append(int(rest[int(np.argmax(scores))]))
        S = np.array(grown)
        d = _delta(M[:, S])
        if d > worst:
            worst, support = d, np.sort(S)
    return Certificate(f"RIP delta_{k} (sampled)", worst, 1.0, "fails" if worst >= 1 else "unknown", "sampled",
                       f"a support with delta = {worst:.4g} exists (lower bound)", {"support": np.asarray(support)})
