"""Certificates: check the hypotheses of recovery theorems on a concrete instance.

Each function returns a :class:`Certificate`: the condition, the computed
value, the threshold it is compared with, whether it ``holds``, ``fails`` or
is ``unknown``, and how the value was obtained:

* ``exact`` -- computed exactly (enumeration, LP): ``holds`` or ``fails``;
* ``bound`` -- an upper bound on the quantity (e.g. RIP from coherence):
  ``holds`` when the bound clears the threshold, ``unknown`` otherwise;
* ``sampled`` -- a lower bound found by search: ``fails`` when it already
  violates the threshold, ``unknown`` otherwise.

What each certificate proves (and costs):

==========================  ========================================================  ===========================
certificate                 proves                                                    cost
==========================  ========================================================  ===========================
mutual coherence mu         s < (1 + 1/mu)/2 => unique s-sparse solution, OMP/        O(N^2 n), blockwise
                            BP recover (Donoho-Elad, Tropp)
Babel mu_1(k)               mu_1(s-1) + mu_1(s) < 1 => OMP/BP recover (Tropp)         O(N^2 n), O(N k) memory
RIP delta_k (exact)         IHT: delta_3s < 1/sqrt(32) (Blumensath-Davies 2009);      C(N, k) eigenproblems
                            HTP: delta_3s < 1/sqrt(3) (Foucart 2011);
                            CoSaMP: delta_4s <= 0.1 (Needell-Tropp 2009);
                            lower constant < 1 (every 2s columns independent)
                            => unique s-sparse solution
RIP from coherence          delta_k <= (k-1) mu (unit-norm columns, Gershgorin)       free given mu
RIP sampled lower bound     a violated threshold (never a proof that it holds)        random + greedy supports
ERC (Tropp 2004)            max_{j not in S} ||A_S^+ a_j||_1 < 1 => OMP and BP        O(N s n)
                            recover every vector supported on S
NSP for a support (LP)      BP recovers every vector on S (with the given             ``2^|S|`` LPs (SciPy HiGHS)
                            signs, or all signs)
ReLU structure              separation and coverage of the planted patterns           O(n p^2)
==========================  ========================================================  ===========================
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np
from tqdm.auto import tqdm

from ._memory import check_working_set
from ._validation import check_array, check_int, check_rng, is_integral, progress_enabled
from .operators import DenseOperator, SparseSensingOperator
from .sparse import SparseVector

if TYPE_CHECKING:
    from .typing import ArrayLike, RngLike
    from scipy.sparse.linalg import LinearOperator

__all__ = [
    "Certificate",
    "column_blocks",
    "mutual_coherence",
    "babel",
    "rip_exact",
    "rip_sampled",
    "rip_from_coherence",
    "algorithm_certificates",
    "exact_recovery_condition",
    "null_space_property",
    "restricted_eigenvalues",
    "RestrictedEigenvalues",
    "relaxed_iht",
    "relu_structure",
    "pattern_statistics",
    "population_separation",
    "certify_solution",
]

IHT_DELTA3S = 1 / math.sqrt(32)
HTP_DELTA3S = 1 / math.sqrt(3)
COSAMP_DELTA4S = 0.1


@dataclass
class Certificate:
    """Outcome of one condition check.

    Attributes
    ----------
    name : str
    value : float
        Computed quantity (exact value, upper bound or lower bound, see ``method``).
    threshold : float
        What the theorem needs (``value < threshold`` unless ``explanation`` says otherwise).
    status : {"holds", "fails", "unknown"}
    method : {"exact", "bound", "sampled"}
    explanation : str
        One sentence saying what was found.
    evidence : dict
        Arrays behind the value (e.g. the worst support).
    """

    name: str
    value: float
    threshold: float
    status: str
    method: str
    explanation: str = ""
    evidence: dict = field(default_factory=dict)

    @property
    def holds(self) -> bool:
        return self.status == "holds"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["evidence"] = {k: np.asarray(v).tolist() for k, v in self.evidence.items()}
        return d


def _operator(A):
    if isinstance(A, SparseSensingOperator):
        return A
    if np.iscomplexobj(A):
        raise ValueError("A must be real (certificates of a complex matrix are not those of its real part)")
    return DenseOperator(check_array(A, "A", ndim=2))


def _support(support, N):
    """``(S, order)``: the support as sorted int64 columns and the order that sorts the input.

    A support is a non-empty 1-d sequence of distinct integer column indices in
    ``[0, N)``; anything else (a string, a 2-d array, 1.7, a repeated column)
    is a ``ValueError``, never rounded or deduplicated into another support.
    """
    if isinstance(support, (str, bytes)):
        raise ValueError(f"support must be a sequence of column indices, got the string {support!r}")
    a = np.asarray(support)
    if a.ndim != 1 or a.size == 0:
        raise ValueError(f"support must be a non-empty 1-d sequence of column indices, got shape {a.shape}")
    if a.dtype.kind == "b" or not is_integral(a):
        raise ValueError(f"support must hold integer column indices, got {a.tolist()}")
    a = a.astype(np.int64)
    if a.min() < 0 or a.max() >= N:
        raise ValueError(f"support must hold column indices within [0, {N}), got {a.tolist()}")
    order = np.argsort(a, kind="stable")
    S = a[order]
    dup = S[1:][S[1:] == S[:-1]]
    if dup.size:
        raise ValueError(f"support lists column {int(dup[0])} more than once")
    return S, order


def column_blocks(A: LinearOperator | ArrayLike, block: int = 256) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(j0, C)`` with ``C = A[:, j0:j0 + B]`` (n x B), never the whole matrix."""
    A = _operator(A)
    N = A.shape[1]
    for j0 in range(0, N, block):
        yield j0, A.restrict(np.arange(j0, min(N, j0 + block))).to_dense()


#: Bytes of the Gram rows one step of :func:`_gram_rows` holds (rows x N doubles).
GRAM_ROWS_BYTES = 256 * 2**20


def _gram_rows(A, block, progress=None, normalise=True):
    """Yield ``(i0, G_rows)``: rows i0..i0+B of the Gram matrix ``A^T A``, normalised to unit
    columns (``normalise``, the default; a zero column is then an error) or as it is.

    B is ``block``, lowered so that the rows (B x N doubles) stay within
    ``GRAM_ROWS_BYTES`` (N = 10^7 would otherwise ask for 19 GiB at B = 256); a
    progress bar counts the row blocks (default: on a terminal, from 100 blocks).
    """
    A = _operator(A)
    n, N = A.shape
    rows_per_step = max(1, min(block, GRAM_ROWS_BYTES // (8 * N)))
    check_working_set(8 * rows_per_step * N + 16 * n * block, f"the Gram rows of a {n} x {N} matrix",
                      "lower block=")
    norms = A.column_norms(block=block) if normalise else np.ones(N)
    if np.any(norms == 0):
        raise ValueError(f"A has zero columns {np.flatnonzero(norms == 0)[:10].tolist()}: coherence is undefined")
    steps = range(0, N, rows_per_step)
    show = progress_enabled(progress) and (progress is not None or len(steps) >= 100)  # by default: long runs
    for i0 in tqdm(steps, desc="Gram rows", unit="block", disable=not show, leave=False):
        Ci = A.restrict(np.arange(i0, min(N, i0 + rows_per_step))).to_dense() / norms[i0 : i0 + rows_per_step]
        rows = np.empty((Ci.shape[1], N))
        for j0, Cj in column_blocks(A, block):
            rows[:, j0 : j0 + Cj.shape[1]] = Ci.T @ (Cj / norms[j0 : j0 + Cj.shape[1]])
        yield i0, rows


def mutual_coherence(A: LinearOperator | ArrayLike, *, block: int = 256, progress: bool | None = None) -> Certificate:
    """``mu = max_{i != j} |<a_i, a_j>| / (||a_i|| ||a_j||)``, computed blockwise.

    Certifies: every s-sparse vector with ``s < (1 + 1/mu) / 2`` is the unique
    sparsest solution and OMP and BP recover it. Memory: O(n block + GRAM_ROWS_BYTES);
    time: O(n N^2) (``progress`` shows the row blocks; default on a terminal for large N).
    """
    mu, pair = 0.0, (0, 0)
    for i0, rows in _gram_rows(A, block, progress):
        rows = np.abs(rows)
        rows[np.arange(rows.shape[0]), i0 + np.arange(rows.shape[0])] = 0.0
        k = int(np.argmax(rows))
        if rows.flat[k] > mu:
            mu, pair = float(rows.flat[k]), (i0 + k // rows.shape[1], k % rows.shape[1])
    return Certificate("mutual coherence", mu, 1.0, "holds" if mu < 1 else "fails", "exact",
                       f"largest normalised inner product {mu:.4g} between columns {pair[0]} and {pair[1]}"
                       + (" (parallel columns: no sparse solution is identifiable through them)" if mu >= 1 - 1e-12 else ""),
                       {"pair": np.array(pair)})


def babel(A: LinearOperator | ArrayLike, k: int, *, block: int = 256, progress: bool | None = None) -> float:
    """Cumulative coherence ``mu_1(k) = max_i max_{|L| = k, i not in L} sum_{j in L} |G_ij|`` (normalised columns)."""
    A = _operator(A)
    k = check_int(k, "k", low=1, high=A.shape[1] - 1)
    best = 0.0
    for i0, rows in _gram_rows(A, block, progress):
        rows = np.abs(rows)
        rows[np.arange(rows.shape[0]), i0 + np.arange(rows.shape[0])] = 0.0
        best = max(best, float(np.sort(rows, axis=1)[:, -k:].sum(axis=1).max()))
    return best


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
    A = _operator(A)
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
    A = _operator(A)
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
    A = _operator(A)
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
    for i0, rows in _gram_rows(A, block, normalise=False):
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
    A = _operator(A)
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
    A = _operator(A)
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
    A = _operator(A)
    S, _ = _support(support, A.shape[1])
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

    A = _operator(A)
    n, N = A.shape
    S, order = _support(support, N)
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


def pattern_statistics(X: ArrayLike, U: ArrayLike, gamma: float | None = None) -> dict:
    """Separation and coverage of the activation patterns ``D_j = diag(1[X u_j >= 0])`` (Assumption 2).

    Parameters
    ----------
    X : array_like, shape (n, d)
    U : array_like, shape (p, d)
        Generators (hidden weights) whose patterns are compared; zero rows are skipped.
    gamma : float, optional
        A separation threshold: also report the fraction of pattern pairs closer than it.

    Returns
    -------
    dict
        ``separation``: the smallest normalised Hamming distance between two patterns or a
        pattern and the complement of another (``min(h, 1 - h)``), ``pair``: where it is
        attained, ``coverage``: the smallest fraction of samples a unit is active on
        (``coverages``: each unit's), and
        ``violating`` (with ``gamma``): the fraction of pairs with ``min(h, 1 - h) < gamma``.
        One GEMM of the patterns: O(n p^2) time, O(n p + p^2) memory.

    Notes
    -----
    For Gaussian ``X`` the patterns of ``u`` and ``v`` differ on each sample with
    probability ``angle(u, v) / pi`` (hyperplane rounding), so the separation tends
    to :func:`population_separation` and each unit's coverage to 1/2 as n grows.
    """
    X = check_array(X, "X", ndim=2)
    U = check_array(U, "U", ndim=2, shape=(None, X.shape[1]))
    P = (X @ U[U.any(axis=1)].T >= 0).astype(np.float64)
    n, p = P.shape
    cov = P.mean(axis=0)
    out = {"coverage": float(cov.min()) if p else 1.0, "coverages": cov, "separation": 1.0, "pair": (-1, -1)}
    if p > 1:
        H = (P.T @ (1.0 - P) + (1.0 - P).T @ P) / n  # Hamming distances of all pairs
        H = np.minimum(H, 1.0 - H)  # a pattern and a complement are equally confusable for mixed signs
        iu = np.triu_indices(p, 1)
        k = int(np.argmin(H[iu]))
        out.update(separation=float(H[iu][k]), pair=(int(iu[0][k]), int(iu[1][k])))
        if gamma is not None:
            out["violating"] = float(np.mean(H[iu] < gamma))
    elif gamma is not None:
        out["violating"] = 0.0
    return out


def population_separation(U: ArrayLike) -> float:
    """The separation Gaussian data gives as n grows: ``min over pairs of min(theta, pi - theta) / pi``,
    ``theta`` the angle between two nonzero rows of ``U`` (1.0 for fewer than two)."""
    U = np.asarray(U, dtype=float)
    U = U[U.any(axis=1)]
    if len(U) < 2:
        return 1.0
    V = U / np.linalg.norm(U, axis=1, keepdims=True)
    theta = np.arccos(np.clip(V @ V.T, -1.0, 1.0))[np.triu_indices(len(U), 1)]
    return float(np.min(np.minimum(theta, np.pi - theta)) / np.pi)


def relu_structure(
    X: ArrayLike,
    U: ArrayLike,
    *,
    min_separation: float = 0.1,
    min_coverage: float = 0.05,
) -> list[Certificate]:
    """Structural conditions of the ReLU recovery theorem on data ``X`` and planted hidden weights ``U``.

    For the active units (nonzero rows of ``U``): *separation* and *coverage*
    of their patterns (:func:`pattern_statistics`). Returns two certificates
    compared with the given thresholds; the theorem's sample-size requirement
    is not included (its constants are not available here), so these are
    necessary structure checks, reported as measured.
    """
    st = pattern_statistics(X, U)
    sep, pair, cmin, cov = st["separation"], st["pair"], st["coverage"], st["coverages"]
    jmin = int(np.argmin(cov)) if cov.size else -1
    return [
        Certificate("pattern separation", sep, min_separation, "holds" if sep >= min_separation else "fails", "exact",
                    f"closest active patterns {pair} differ on a fraction {sep:.3g} of the samples (needs >= {min_separation})",
                    {"pair": np.array(pair)}),
        Certificate("pattern coverage", cmin, min_coverage, "holds" if cmin >= min_coverage else "fails", "exact",
                    f"least active unit {jmin} is on for a fraction {cmin:.3g} of the samples (needs >= {min_coverage})",
                    {"coverage": cov}),
    ]


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
    A = _operator(A)
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
