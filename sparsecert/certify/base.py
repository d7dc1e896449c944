"""What every certificate shares: :class:`Certificate`, the operator and support checks, the Gram
rows of the normalised columns, and the coherence family (mutual coherence, Babel)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Iterator

import numpy as np
from tqdm.auto import tqdm

from .._memory import check_working_set
from ..validation import check_array, check_int, is_integral, progress_enabled
from ..operators import DenseOperator, SparseSensingOperator

if TYPE_CHECKING:
    from ..typing import ArrayLike
    from scipy.sparse.linalg import LinearOperator


__all__ = [
    "Certificate",
    "real_operator",
    "check_certify_support",
    "column_blocks",
    "gram_rows",
    "mutual_coherence",
    "babel",
    "GRAM_ROWS_BYTES",
]


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


def real_operator(A: LinearOperator | ArrayLike) -> SparseSensingOperator:
    """``A`` as a :class:`~sparsecert.operators.SparseSensingOperator` (a real 2-d array is wrapped in a
    :class:`~sparsecert.operators.DenseOperator`; a complex one is a ``ValueError``)."""
    if isinstance(A, SparseSensingOperator):
        return A
    if np.iscomplexobj(A):
        raise ValueError("A must be real (certificates of a complex matrix are not those of its real part)")
    return DenseOperator(check_array(A, "A", ndim=2))


def check_certify_support(support: ArrayLike, N: int) -> tuple[np.ndarray, np.ndarray]:
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
    A = real_operator(A)
    N = A.shape[1]
    for j0 in range(0, N, block):
        yield j0, A.restrict(np.arange(j0, min(N, j0 + block))).to_dense()


#: Bytes of the Gram rows one step of :func:`_gram_rows` holds (rows x N doubles).
GRAM_ROWS_BYTES = 256 * 2**20


def gram_rows(
    A: LinearOperator | ArrayLike, block: int, progress: bool | None = None, normalise: bool = True
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(i0, G_rows)``: rows i0..i0+B of the Gram matrix ``A^T A``, normalised to unit
    columns (``normalise``, the default; a zero column is then an error) or as it is.

    B is ``block``, lowered so that the rows (B x N doubles) stay within
    ``GRAM_ROWS_BYTES`` (N = 10^7 would otherwise ask for 19 GiB at B = 256); a
    progress bar counts the row blocks (default: on a terminal, from 100 blocks).
    """
    A = real_operator(A)
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
    for i0, rows in gram_rows(A, block, progress):
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
    A = real_operator(A)
    k = check_int(k, "k", low=1, high=A.shape[1] - 1)
    best = 0.0
    for i0, rows in gram_rows(A, block, progress):
        rows = np.abs(rows)
        rows[np.arange(rows.shape[0]), i0 + np.arange(rows.shape[0])] = 0.0
        best = max(best, float(np.sort(rows, axis=1)[:, -k:].sum(axis=1).max()))
    return best
