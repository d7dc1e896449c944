"""Recovery conditions of named algorithms (RIP thresholds, ERC, NSP) and the certificate of a solution."""

from __future__ import annotations

import itertools
import math
from typing import TYPE_CHECKING

import numpy as np

from ..validation import check_array, check_int
from ..sparse import SparseVector

from .base import Certificate, check_certify_support, column_blocks, mutual_coherence, real_operator
from .eigen import rip_exact, rip_sampled

if TYPE_CHECKING:
    from ..typing import ArrayLike, RngLike
    from scipy.sparse.linalg import LinearOperator


__all__ = [
    "IHT_DELTA3S",
    "rip_from_coherence",
    "algorithm_certificates",
    "exact_recovery_condition",
    "null_space_property",
    "certify_solution",
    "HTP_DELTA3S",
    "COSAMP_DELTA4S",
]


IHT_DELTA3S = 1 / math.sqrt(32)
HTP_DELTA3S = 1 / math.sqrt(3)
COSAMP_DELTA4S = 0.1




def rip_from_coherence(mu: float, k: int) -> float:
    """``delta_k <= (k - 1) mu`` for unit-norm columns (Gershgorin)."""
    return (k - 1) * float(mu)


def algorithm_certificates(
    A: LinearOperator | ArrayLike,
    s: int,
    *,
    exact_budget: int = 50_000,
    n_random: int = 200,
    rng: RngLike = None,
    unit_columns: bool | None = None,
) -> list[Certificate]:
    """IHT, HTP and CoSaMP sufficient conditions and uniqueness (delta_2s < 1) for sparsity ``s``.

    Uses the exact RIP constant when the enumeration fits ``exact_budget``,
    otherwise the coherence upper bound (holds or unknown) and a sampled
    lower bound (fails or unknown). The coherence bound needs unit-norm
    columns: it is used only when they are (within 1e-8), or when
    ``unit_columns=True`` is forced.

    Returns
    -------
    list of Certificate
    """
    A = real_operator(A)
    N = A.shape[1]
    s = check_int(s, "s", low=1, high=N)
    norms = A.column_norms()
    unit = np.allclose(norms, 1.0, atol=1e-8) if unit_columns is None else bool(unit_columns)
    mu = mutual_coherence(A).value
    conds = [("IHT: delta_3s < 1/sqrt(32)", 3 * s, IHT_DELTA3S), ("HTP: delta_3s < 1/sqrt(3)", 3 * s, HTP_DELTA3S),
             ("CoSaMP: delta_4s <= 0.1", 4 * s, COSAMP_DELTA4S), ("unique s-sparse solution: delta_2s < 1", 2 * s, 1.0)]
    # (uniqueness is reported with the lower constant 1 - min lambda_min when computed exactly)
    out = []
    for name, k, thr in conds:
        if k > N:
            out.append(Certificate(name, float("nan"), thr, "unknown", "exact", f"order {k} exceeds N = {N}"))
            continue
        if math.comb(N, k) <= exact_budget:
            c = rip_exact(A, k, budget=exact_budget)
            if thr == 1.0:  # uniqueness needs only the lower restricted eigenvalue: every 2s columns independent
                lower = 1.0 - float(c.evidence["lambda_min"])
                out.append(Certificate(name.replace("delta_2s", "lower delta_2s"), lower, 1.0,
                                       "holds" if lower < 1 - 1e-10 else "fails", "exact", c.explanation, c.evidence))
                continue
            ok = c.value < thr or (thr == COSAMP_DELTA4S and c.value <= thr)
            out.append(Certificate(name, c.value, thr, "holds" if ok else "fails", "exact", c.explanation, c.evidence))
            continue
        if unit:
            b = rip_from_coherence(mu, k)
            if b < thr:
                out.append(Certificate(name, b, thr, "holds", "bound", f"(k-1) mu = {b:.4g} < {thr:.4g}"))
                continue
        low = rip_sampled(A, k, n_random=n_random, rng=rng)
        status = "fails" if low.value >= thr else "unknown"
        out.append(Certificate(name, low.value, thr, status, "sampled",
                               f"lower bound {low.value:.4g}" + (" violates" if status == "fails" else " does not decide")
                               + f" the threshold {thr:.4g}", low.evidence))
    return out


def exact_recovery_condition(A: LinearOperator | ArrayLike, support: ArrayLike, *, block: int = 256) -> Certificate:
    """Tropp's exact recovery condition ``ERC(S) = max_{j not in S} ||A_S^+ a_j||_1 < 1``.

    Certifies that OMP (in ``|S|`` steps) and basis pursuit recover every vector
    supported on ``S``. Exact; fails with an explanation when ``A_S`` is
    rank-deficient.
    """
    A = real_operator(A)
    S, _ = check_certify_support(support, A.shape[1])
    AS = A.restrict(S).to_dense()
    if np.linalg.matrix_rank(AS) < S.size:
        return Certificate("ERC", float("inf"), 1.0, "fails", "exact",
                           f"the columns {S.tolist()} are linearly dependent: vectors on S are not identifiable",
                           {"support": S})
    pinv = np.linalg.pinv(AS)
    worst, arg = 0.0, -1
    for j0, C in column_blocks(A, block):
        vals = np.abs(pinv @ C).sum(axis=0)
        vals[np.isin(np.arange(j0, j0 + C.shape[1]), S)] = 0.0
        j = int(np.argmax(vals))
        if vals[j] > worst:
            worst, arg = float(vals[j]), j0 + j
    return Certificate("ERC", worst, 1.0, "holds" if worst < 1 else "fails", "exact",
                       f"max ||A_S^+ a_j||_1 = {worst:.4g} at column {arg}", {"support": S, "worst_column": np.array(arg)})


def null_space_property(
    A: LinearOperator | ArrayLike,
    support: ArrayLike,
    signs: ArrayLike | None = None,
    *,
    tol: float = 1e-9,
) -> Certificate:
    """Null space property for a support, checked by linear programs (SciPy HiGHS).

    For a sign pattern ``sigma`` on ``S``, basis pursuit recovers every vector
    supported on ``S`` with those signs, uniquely, iff ``A_S`` is injective and
    ``sigma . h_S < ||h_{S^c}||_1`` for every nonzero ``h`` in ker(A). With the
    scaling ``||h_{S^c}||_1 <= 1`` this is the LP ``max sigma . h_S`` over
    ``A h = 0``, which must stay below 1. With ``signs=None`` all ``2^|S|``
    patterns are checked (the NSP relative to S). Small problems only (dense A).
    """
    from scipy.optimize import linprog

    A = real_operator(A)
    n, N = A.shape
    S, order = check_certify_support(support, N)
    if signs is None:
        if S.size > 14:
            raise ValueError("null_space_property with all sign patterns is limited to |S| <= 14")
        patterns = [np.array(p, float) for p in itertools.product([-1.0, 1.0], repeat=S.size)]
    else:
        sigma = check_array(signs, "signs", shape=(S.size,))
        if not np.all(np.abs(sigma) == 1.0):
            raise ValueError(f"signs must be +1 or -1, one per support column, got {sigma.tolist()}")
        patterns = [sigma[order]]  # in the order of the sorted support
    M = A.restrict(np.arange(N)).to_dense()
    if np.linalg.matrix_rank(M[:, S]) < S.size:
        return Certificate("NSP (support)", float("inf"), 1.0, "fails", "exact",
                           f"the columns {S.tolist()} are linearly dependent: a null-space vector lives on S",
                           {"support": S})
    off = np.setdiff1d(np.arange(N), S)
    k = off.size
    # variables [h (N), t (k)]: |h_j| <= t_j off the support, sum t <= 1, M h = 0
    E = np.zeros((k, N))
    E[np.arange(k), off] = 1.0
    A_ub = np.block([[E, -np.eye(k)], [-E, -np.eye(k)], [np.zeros((1, N)), np.ones((1, k))]])
    b_ub = np.r_[np.zeros(2 * k), 1.0]
    A_eq = np.hstack([M, np.zeros((n, k))])
    bounds = [(None, None)] * N + [(0, None)] * k
    worst, worst_h = -np.inf, None
    for sig in patterns:
        c = np.zeros(N + k)
        c[S] = -sig  # maximise sigma . h_S
        res = linprog(c, A_ub=A_ub, b_ub=b_ub, A_eq=A_eq, b_eq=np.zeros(n), bounds=bounds, method="highs")
        if not res.success:
            raise RuntimeError(f"NSP linear program failed: {res.message}")
        if -res.fun > worst:
            worst, worst_h = -res.fun, res.x[:N]
    status = "holds" if worst < 1 - tol else "fails"
    return Certificate("NSP (support)", float(worst), 1.0, status, "exact",
                       f"max sigma.h_S over ker(A) with ||h_(S^c)||_1 <= 1 is {worst:.4g} "
                       + ("< 1: basis pursuit recovers uniquely" if status == "holds"
                          else ">= 1: a null-space vector concentrates on S"),
                       {"support": S, "h": worst_h})


def certify_solution(
    A: LinearOperator | ArrayLike,
    y: ArrayLike,
    w_hat: SparseVector | ArrayLike,
    s: int,
    *,
    tol: float = 1e-8,
    exact_budget: int = 50_000,
) -> list[Certificate]:
    """A posteriori: is ``w_hat`` the unique s-sparse solution of ``A w = y``?

    1. residual: ``||A w_hat - y|| <= tol ||y||`` and ``nnz(w_hat) <= s``;
    2. uniqueness, first that applies: exact enumeration of all s-supports
       (another support reproducing ``y`` refutes it), delta_2s < 1 from the
       exact RIP, the coherence bound ``s < (1 + 1/mu)/2``; else unknown.

    Returns
    -------
    list of Certificate (residual, then the uniqueness certificate used)
    """
    A = real_operator(A)
    n, N = A.shape
    y = check_array(y, "y", shape=(n,), dtype=A.dtype)
    s = check_int(s, "s", low=1, high=N)
    if not isinstance(w_hat, SparseVector):
        w_hat = SparseVector.from_dense(check_array(w_hat, "w_hat", shape=(N,)))
    r = float(np.linalg.norm(A.matvec(w_hat) - y))
    ynorm = float(np.linalg.norm(y)) or 1.0
    res_ok = r <= tol * ynorm and w_hat.nnz <= s
    certs = [Certificate("residual", r / ynorm, tol, "holds" if res_ok else "fails", "exact",
                         f"relative residual {r / ynorm:.3g}, {w_hat.nnz} nonzeros (s = {s})")]
    if not res_ok:
        return certs
    if math.comb(N, s) <= exact_budget:
        M = A.restrict(np.arange(N)).to_dense()
        others = []
        for combo in itertools.combinations(range(N), s):
            T = np.array(combo)
            coef = np.linalg.lstsq(M[:, T], y, rcond=None)[0]
            if np.linalg.norm(M[:, T] @ coef - y) <= tol * ynorm:
                w = np.zeros(N)
                w[T] = coef
                if np.linalg.norm(w - w_hat.to_dense()) > 1e3 * tol * max(1.0, float(np.linalg.norm(w_hat.values))):
                    others.append(T)
                    break
        certs.append(Certificate("uniqueness (enumeration)", float(len(others)), 1.0,
                                 "fails" if others else "holds", "exact",
                                 f"another s-sparse solution on columns {others[0].tolist()}" if others
                                 else f"no other of the C({N}, {s}) supports fits y", {}))
        return certs
    if 2 * s <= N and math.comb(N, 2 * s) <= exact_budget:
        c = rip_exact(A, 2 * s, budget=exact_budget)
        certs.append(Certificate("uniqueness: delta_2s < 1", c.value, 1.0, c.status, "exact", c.explanation, c.evidence))
        return certs
    mu = mutual_coherence(A).value
    ok = s < (1 + 1 / mu) / 2 if mu > 0 else True
    certs.append(Certificate("uniqueness: s < (1 + 1/mu)/2", float(s), (1 + 1 / mu) / 2 if mu > 0 else float("inf"),
                             "holds" if ok else "unknown", "bound", f"mutual coherence {mu:.4g}"))
    return certs
